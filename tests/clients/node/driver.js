// kafkajs, driven line by line by tests/integration/test_kafkajs.py.
//
// Usage: node driver.js BOOTSTRAP [SASL_JSON]
// stdin: one JSON command a line, {"n": 1, "op": "...", ...}
// stdout: one JSON line a reply ({"n": 1, "ok": ...} or {"n": 1, "error": {...}}) and
// one a client event ({"event": "message" | "join", ...}). kafkajs's own log goes to
// stderr, so stdout carries only this protocol.
'use strict'

const readline = require('readline')
const { Kafka, CompressionTypes, Partitioners, logLevel } = require('kafkajs')

const [bootstrap, saslJson] = process.argv.slice(2)
if (!bootstrap) {
  process.stderr.write('usage: node driver.js BOOTSTRAP [SASL_JSON]\n')
  process.exit(2)
}

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const kafka = new Kafka({
  clientId: 'kafkajs-test',
  brokers: [bootstrap],
  sasl: saslJson ? JSON.parse(saslJson) : undefined,
  logLevel: logLevel.WARN,
  logCreator: () => ({ namespace, level, label, log }) => {
    process.stderr.write(`kafkajs ${label} ${namespace}: ${log.message} ${JSON.stringify(log)}\n`)
  },
  retry: { retries: 5 },
})

// Every request kafkajs sends, by API: the versions it negotiated with the listener.
const requests = {}
const watch = (client) => {
  client.on(client.events.REQUEST, ({ payload }) => {
    const k = `${payload.apiKey}`
    const entry = requests[k] || (requests[k] = { name: payload.apiName, versions: [] })
    if (!entry.versions.includes(payload.apiVersion)) entry.versions.push(payload.apiVersion)
  })
  return client
}

let producer = null
let admin = null
const consumers = {} // id -> { consumer, assigned: {topic: [p]}, next: {"topic/p": offset} }

const codecs = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP }

async function getProducer() {
  if (producer === null) {
    producer = watch(
      kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 }),
    )
    await producer.connect()
  }
  return producer
}

async function getAdmin() {
  if (admin === null) {
    admin = watch(kafka.admin())
    await admin.connect()
  }
  return admin
}

const ops = {
  async create({ topic, partitions }) {
    const a = await getAdmin()
    return a.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
  },

  // Send `messages` in one producer.send; also say which partition kafkajs's
  // DefaultPartitioner picks for each (the Java client's murmur2), so the test can
  // compare it with where the records were stored.
  async produce({ topic, messages, compression, partitions }) {
    const p = await getProducer()
    const msgs = messages.map(({ key, value }) => ({ key, value }))
    const result = await p.send({ topic, messages: msgs, compression: codecs[compression || 'none'], acks: -1 })
    const partitioner = Partitioners.DefaultPartitioner()
    const partitionMetadata = Array.from({ length: partitions || 1 }, (_, i) => ({ partitionId: i, leader: 0 }))
    const chosen = msgs.map((message) => partitioner({ topic, partitionMetadata, message }))
    return { result, chosen }
  },

  async 'consumer.start'({ id, group, topic, autoCommit }) {
    const consumer = watch(
      kafka.consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 300, maxWaitTimeInMs: 200 }),
    )
    const state = { consumer, assigned: {}, next: {} }
    consumers[id] = state
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      state.assigned = payload.memberAssignment
      out({ event: 'join', id, assigned: payload.memberAssignment, leader: payload.isLeader })
    })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      autoCommit: Boolean(autoCommit),
      eachMessage: async ({ topic, partition, message }) => {
        state.next[`${topic}/${partition}`] = Number(message.offset) + 1
        out({
          event: 'message',
          id,
          topic,
          partition,
          offset: Number(message.offset),
          key: message.key === null ? null : message.key.toString(),
          value: message.value.toString(),
        })
      },
    })
    return true
  },

  // Where this member is: its assignment and the next offset of each partition it read.
  async 'consumer.state'({ id }) {
    const { assigned, next } = consumers[id]
    return { assigned, next }
  },

  // Commit the next offset of every assigned partition this member has read.
  async 'consumer.commit'({ id }) {
    const { consumer, assigned, next } = consumers[id]
    const offsets = []
    for (const [topic, parts] of Object.entries(assigned)) {
      for (const partition of parts) {
        const n = next[`${topic}/${partition}`]
        if (n !== undefined) offsets.push({ topic, partition, offset: `${n}` })
      }
    }
    await consumer.commitOffsets(offsets)
    return offsets
  },

  // kafkajs's seek; with autoCommit it commits the offset as given, -2 and -1 included.
  async 'consumer.seek'({ id, topic, partition, offset }) {
    consumers[id].consumer.seek({ topic, partition, offset })
    return true
  },

  async 'consumer.stop'({ id }) {
    await consumers[id].consumer.disconnect()
    delete consumers[id]
    return true
  },

  // Any admin client method, by name: {"op": "admin", "method": "fetchTopicOffsets", "args": ["t"]}.
  async admin({ method, args }) {
    const a = await getAdmin()
    if (typeof a[method] !== 'function') throw new Error(`the admin client has no method ${method}`)
    return a[method](...(args || []))
  },

  async requests() {
    return requests
  },
}

async function handle(line) {
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (e) {
    out({ n: null, error: { name: 'BadCommand', message: e.message } })
    return
  }
  try {
    const op = ops[cmd.op]
    if (!op) throw new Error(`unknown op ${cmd.op}`)
    out({ n: cmd.n, ok: (await op(cmd)) ?? null })
  } catch (e) {
    out({ n: cmd.n, error: { name: e.name, type: e.type || null, message: e.message } })
  }
}

async function shutdown() {
  for (const { consumer } of Object.values(consumers)) await consumer.disconnect().catch(() => {})
  if (producer) await producer.disconnect().catch(() => {})
  if (admin) await admin.disconnect().catch(() => {})
  process.exit(0)
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  handle(line)
})
rl.on('close', shutdown)
