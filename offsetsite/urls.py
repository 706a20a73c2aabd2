from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="core/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("site/", include("offsetsite.core.urls")),
    path("api/", include("offsetsite.api.urls")),
    path("", include("offsetsite.api.metrics_urls")),
    path("", include("offsetsite.live.urls")),
    path("lab/", include("offsetsite.lab.urls")),
    path("", include("offsetsite.dashboard.urls")),
]

# Say which limit a refused request broke (a 10 MB form field, too many fields).
handler400 = "offsetsite.core.views_errors.bad_request"
