"""AuditEntry.cluster, and one vocabulary of action names (offsetsite.core.audit.Action).

The pages wrote ``reset_offsets``, the API ``group.reset``, for the same change: stored
entries get the name ``offsetsite.core.audit`` writes now. The mapping is frozen here
(a migration must not follow later edits of the code).
"""

from django.db import migrations, models

RENAMED = {
    "produce": "records.produce",
    "produce_burst": "records.burst",
    "consume": "records.consume",
    "commit_offsets": "offsets.commit",
    "reset_offsets": "offsets.reset",
    "group.reset": "offsets.reset",
    "undo_reset": "offsets.undo",
    "group.undo": "offsets.undo",
    "delete_offsets": "offsets.delete",
    "delete_group": "group.delete",
    "topic_create": "topic.create",
    "topic_delete": "topic.delete",
    "user_create": "user.create",
    "user_role": "user.role",
    "user_deactivate": "user.deactivate",
    "user_reactivate": "user.reactivate",
    "user_password": "user.password",
    "token_create": "token.create",
    "token_revoke": "token.revoke",
    "site_settings": "settings.change",
}


def rename_actions(apps, schema_editor):  # type: ignore[no-untyped-def]
    AuditEntry = apps.get_model("core", "AuditEntry")
    for old, new in RENAMED.items():
        AuditEntry.objects.filter(action=old).update(action=new)


class Migration(migrations.Migration):
    dependencies = [("core", "0003_site_settings")]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="cluster",
            field=models.CharField(db_index=True, default="local", help_text="the cluster changed", max_length=100),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.CharField(db_index=True, help_text="offsetsite.core.audit.Action", max_length=64),
        ),
        # Not reversed: two old names map to one new name, so the way back is ambiguous.
        migrations.RunPython(rename_actions, migrations.RunPython.noop),
    ]
