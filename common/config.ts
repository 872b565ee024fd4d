// The one configuration schema for the agent and the collector. Each setting has one
// name, one environment variable, one command-line flag, a default and a description;
// flags, environment and Helm values (charts/tcpscope) all map onto it, and --help is
// generated from it. Values are checked here, once, with a clear error.
import type { Command } from 'commander';
import { z } from 'zod';

export interface Setting<T> {
  env: string;
  flag: string;            // long flag without dashes
  description: string;
  schema: z.ZodType<T>;
  default: T;
}

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-_]+):\d{1,5}$/, 'expected host:port');

function setting<T>(env: string, flag: string, schema: z.ZodType<T>, def: T, description: string): Setting<T> {
  return { env, flag, schema, default: def, description };
}

export const agentSettings = {
  nodeName: setting('NODE_NAME', 'node-name', z.string().min(1), '', 'this node\'s name (downward API spec.nodeName; default: the host name)'),
  collector: setting('TCPSCOPE_COLLECTOR', 'collector', hostPort, '127.0.0.1:7400', 'collector gRPC address host:port'),
  batchMaxEvents: setting('TCPSCOPE_BATCH_MAX_EVENTS', 'batch-max-events', positiveInt, 4096, 'flush a batch when it holds this many events'),
  batchFlushMs: setting('TCPSCOPE_BATCH_FLUSH_MS', 'batch-flush-ms', z.coerce.number().int().min(10).max(1000), 1000, 'flush a non-empty batch at least this often (ms, at most 1000)'),
  bufferMaxBatches: setting('TCPSCOPE_BUFFER_MAX_BATCHES', 'buffer-max-batches', positiveInt, 1024, 'unacknowledged batches kept for resending; the oldest go first (counted)'),
  bufferMaxBytes: setting('TCPSCOPE_BUFFER_MAX_BYTES', 'buffer-max-bytes', positiveInt, 64 * 1024 * 1024, 'bytes of unacknowledged batches kept for resending'),
  maxInFlight: setting('TCPSCOPE_MAX_IN_FLIGHT', 'max-in-flight', positiveInt, 32, 'batches sent but not yet acknowledged, at most'),
  bpftrace: setting('TCPSCOPE_BPFTRACE', 'bpftrace', z.string().min(1), 'bpftrace', 'bpftrace binary'),
  mapKeysMax: setting('BPFTRACE_MAP_KEYS_MAX', 'map-keys-max', positiveInt, 65536, 'bpftrace map size (sockets tracked at once; flows per interval)'),
  sessions: setting('TCPSCOPE_SESSIONS', 'sessions', z.enum(['flows', 'events']), 'flows', 'lifespans: flows = summed per flow in the kernel and sent each interval (the cheap always-on path); events = one event per session (several times the CPU per session, see README Performance)'),
  flowIntervalMs: setting('TCPSCOPE_FLOW_INTERVAL_MS', 'flow-interval-ms', z.coerce.number().int().min(200).max(60_000).refine((v) => v % 100 === 0, 'must be a multiple of 100'), 1000, 'with --sessions flows: length of a flow interval (ms, a multiple of 100); a session reaches the collector within about an interval + 0.3 s of its close'),
  retransmitLimit: setting('TCPSCOPE_RETRANSMIT_LIMIT', 'retransmit-limit', z.coerce.number().int().min(0), 1000, 'with --sessions flows: retransmits reported one by one per flow interval; more are counted per flow and state in the kernel (0 = no limit)'),
  metricsPort: setting('TCPSCOPE_AGENT_METRICS_PORT', 'metrics-port', port, 0, 'Prometheus /metrics port (0 = off)'),
  kubernetes: setting('TCPSCOPE_KUBERNETES', 'kubernetes', bool, false, 'watch this node\'s pods to attribute sockets (kubeconfig or in-cluster)'),
  scope: setting('TCPSCOPE_SCOPE', 'scope', z.enum(['all', 'pods']), 'all', 'which sockets to report: all (pods and the host), or pods (only sockets attributed to a pod of this node; needs --kubernetes)'),
  tlsCert: setting('TCPSCOPE_TLS_CERT', 'tls-cert', z.string(), '', 'client certificate (PEM) for mutual TLS to the collector; reloaded when it changes'),
  tlsKey: setting('TCPSCOPE_TLS_KEY', 'tls-key', z.string(), '', 'client private key (PEM)'),
  tlsCa: setting('TCPSCOPE_TLS_CA', 'tls-ca', z.string(), '', 'CA bundle (PEM) that signed the collector\'s certificate; set = TLS on'),
  tlsServerName: setting('TCPSCOPE_TLS_SERVER_NAME', 'tls-server-name', z.string(), '', 'name expected in the collector\'s certificate (default: the host of --collector)'),
  tokenFile: setting('TCPSCOPE_TOKEN_FILE', 'token-file', z.string(), '', 'projected ServiceAccount token sent to the collector (alternative to client certificates)'),
  procRoot: setting('TCPSCOPE_PROC_ROOT', 'proc-root', z.string().min(1), '/proc', 'the host\'s /proc (mounted from the host in a container)'),
  cgroupRoot: setting('TCPSCOPE_CGROUP_ROOT', 'cgroup-root', z.string(), '', 'the host\'s cgroup2 mount (default: found in /proc/self/mountinfo)'),
};

export const collectorSettings = {
  grpcListen: setting('TCPSCOPE_GRPC_LISTEN', 'grpc-listen', hostPort, '127.0.0.1:7400', 'gRPC ingest listen address (agents; mutual TLS or ServiceAccount tokens off loopback)'),
  queryListen: setting('TCPSCOPE_QUERY_LISTEN', 'query-listen', hostPort, '127.0.0.1:7402', 'gRPC query listen address (CLI; bearer token off loopback)'),
  httpListen: setting('TCPSCOPE_HTTP_LISTEN', 'http-listen', hostPort, '127.0.0.1:7401', 'HTTP listen address (JSON API, web UI, /metrics)'),
  ringSize: setting('TCPSCOPE_RING_SIZE', 'ring-size', positiveInt, 200_000, 'recent raw events kept in memory for observe'),
  bucketSeconds: setting('TCPSCOPE_BUCKET_SECONDS', 'bucket-seconds', positiveInt, 10, 'width of the per-flow rollup buckets (s)'),
  checkpointSeconds: setting('TCPSCOPE_CHECKPOINT_SECONDS', 'checkpoint-seconds', positiveInt, 10, 'move in-memory rollups into the store this often (s)'),
  memoryRetentionMinutes: setting('TCPSCOPE_MEMORY_RETENTION_MINUTES', 'memory-retention-minutes', positiveInt, 120, 'rollups kept when there is no --data-dir (min)'),
  metricsMaxSeries: setting('TCPSCOPE_METRICS_MAX_SERIES', 'metrics-max-series', positiveInt, 2000, 'label sets per flow metric before the rest is counted under "_other"'),
  maxBatchEvents: setting('TCPSCOPE_MAX_BATCH_EVENTS', 'max-batch-events', positiveInt, 65536, 'reject batches with more events than this'),
  maxMessageBytes: setting('TCPSCOPE_MAX_MESSAGE_BYTES', 'max-message-bytes', positiveInt, 16 * 1024 * 1024, 'largest gRPC message accepted'),
  kubernetes: setting('TCPSCOPE_KUBERNETES', 'kubernetes', bool, false, 'watch pods, services and nodes cluster-wide to name remote ends'),
  deletedPodRetentionSeconds: setting('TCPSCOPE_DELETED_POD_RETENTION_SECONDS', 'deleted-pod-retention-seconds', positiveInt, 600, 'keep deleted pods in the IP history this long, for late events (s)'),
  tlsCert: setting('TCPSCOPE_TLS_CERT', 'tls-cert', z.string(), '', 'server certificate (PEM) for gRPC; set = TLS on; reloaded when it changes'),
  tlsKey: setting('TCPSCOPE_TLS_KEY', 'tls-key', z.string(), '', 'server private key (PEM)'),
  tlsClientCa: setting('TCPSCOPE_TLS_CLIENT_CA', 'tls-client-ca', z.string(), '', 'CA bundle (PEM) for agents\' client certificates (mutual TLS)'),
  agentTokenAudience: setting('TCPSCOPE_AGENT_TOKEN_AUDIENCE', 'agent-token-audience', z.string(), '', 'accept agents by ServiceAccount token with this audience (TokenReview) instead of client certificates'),
  agentServiceAccount: setting('TCPSCOPE_AGENT_SERVICE_ACCOUNT', 'agent-service-account', z.string(), '', 'with token auth: the only ServiceAccount allowed to send, as system:serviceaccount:NS:NAME (empty = any)'),
  queryTokenFile: setting('TCPSCOPE_QUERY_TOKEN_FILE', 'query-token-file', z.string(), '', 'file holding the bearer token the query API (gRPC and HTTP) requires'),
  dataDir: setting('TCPSCOPE_DATA_DIR', 'data-dir', z.string(), '', 'directory of the embedded store (rollups, delivery state); empty = memory only'),
  retentionHours: setting('TCPSCOPE_RETENTION_HOURS', 'retention-hours', positiveInt, 72, 'rollups kept in the store (h)'),
  storeMaxBytes: setting('TCPSCOPE_STORE_MAX_BYTES', 'store-max-bytes', positiveInt, 1024 * 1024 * 1024, 'size cap of the store; the oldest rollups go first'),
};

export type Settings = Record<string, Setting<any>>;
export type ConfigOf<S extends Settings> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** Adds one --flag per setting to a command, with the env var and default in the help. */
export function addSettingOptions(cmd: Command, settings: Settings): Command {
  for (const s of Object.values(settings)) {
    const def = s.default === '' ? '' : ` (default: ${String(s.default)})`;
    // a yes/no setting works as a bare switch too (--kubernetes), or with a value (--kubernetes false)
    const value = typeof s.default === 'boolean' ? '[true|false]' : '<value>';
    cmd.option(`--${s.flag} ${value}`, `${s.description}; env ${s.env}${def}`);
  }
  return cmd;
}

/** Flags win over environment, environment over defaults. Throws one error naming every bad value. */
export function loadConfig<S extends Settings>(settings: S, flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  const errors: string[] = [];
  for (const [key, s] of Object.entries(settings)) {
    const camel = s.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const raw = flags[camel] ?? env[s.env];
    if (raw === undefined || raw === '') {
      out[key] = s.default;
      continue;
    }
    const r = s.schema.safeParse(raw);
    if (r.success) out[key] = r.data;
    else errors.push(`--${s.flag} / ${s.env}=${JSON.stringify(raw)}: ${r.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (errors.length) throw new Error(`invalid configuration:\n  ${errors.join('\n  ')}`);
  return out as ConfigOf<S>;
}

export type AgentConfig = ConfigOf<typeof agentSettings>;
export type CollectorConfig = ConfigOf<typeof collectorSettings>;
