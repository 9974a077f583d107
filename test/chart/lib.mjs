// Shared helpers of the offline chart tests: run helm, parse its output, validate every object
// against the Kubernetes schemas (kubernetes-models) and against the field names the API
// knows (@kubernetes/client-node's model types), since schema validation alone lets misspelt
// field names through (shared/PLATFORM.md "Kubernetes tooling, offline").
//
// Environment (set by test/chart/CMakeLists.txt):
//   REPLAGENT_CHART_TOOLS  prefix of scripts/setup-chart-tools (bin/helm, node_modules)
//   REPLAGENT_SOURCE_DIR   the repository (chart, values files, probes/metrics.cpp)
//   REPLAGENT_BINARY       the built replagent (checks the rendered replagent.toml)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));

export const tools = process.env.REPLAGENT_CHART_TOOLS ?? '/var/cache/replagent-deps/chart-tools';
export const source = process.env.REPLAGENT_SOURCE_DIR ?? path.resolve(here, '../..');
export const binary = process.env.REPLAGENT_BINARY ?? '';
export const chartDir = path.join(source, 'charts/replagent-postgres');
export const valuesDir = path.join(source, 'test/chart/values');
export const helmBin = path.join(tools, 'bin/helm');
export const namespace = 'default';

const requireTool = createRequire(path.join(tools, 'package.json'));
export const yaml = requireTool('js-yaml');
const modules = path.join(tools, 'node_modules');
const importTool = (rel) => import(pathToFileURL(path.join(modules, rel)).href);

// helm keeps caches and config under $HOME unless told otherwise; tests own a private dir.
const helmHome = mkdtempSync(path.join(tmpdir(), 'replagent-helm-'));
process.on('exit', () => rmSync(helmHome, { recursive: true, force: true }));
const helmEnv = {
  ...process.env,
  HELM_CACHE_HOME: path.join(helmHome, 'cache'),
  HELM_CONFIG_HOME: path.join(helmHome, 'config'),
  HELM_DATA_HOME: path.join(helmHome, 'data'),
};

// `helm ARGS`: {status, stdout, stderr}.
export function helm(args) {
  const r = spawnSync(helmBin, args, { env: helmEnv, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The chart renders only with image.repository set (the image is published nowhere). Every
// render here passes this values file first, so a later values file or --set may still
// override or empty it; `imageArgs` gives raw `helm template` calls the same.
export const testImage = 'registry.example.com/replagent-postgres';
export const imageValues = path.join(helmHome, 'image-values.yaml');
writeFileSync(imageValues, `image:\n  repository: ${testImage}\n`);
export const imageArgs = ['-f', imageValues];

// Renders the chart with the given values files (names in test/chart/values/) and --set
// flags; returns the parsed objects. Throws with helm's message when rendering fails.
// setJson: --set-json flags (e.g. 'key=[]'); image: false renders without the test image.
export function render({ files = [], set = [], setJson = [], release = 't', image = true } = {}) {
  const args = ['template', release, chartDir, '--namespace', namespace, ...(image ? imageArgs : [])];
  for (const f of files) args.push('-f', path.isAbsolute(f) ? f : path.join(valuesDir, f));
  for (const s of set) args.push('--set', s);
  for (const s of setJson) args.push('--set-json', s);
  const r = helm(args);
  if (r.status !== 0) throw new Error(`helm ${args.join(' ')} failed:\n${r.stderr}`);
  return yaml.loadAll(r.stdout).filter((o) => o != null);
}

// --- Schema validation (kubernetes-models) ------------------------------------------------
const modelPaths = {
  'v1/ConfigMap': 'kubernetes-models/v1/ConfigMap.mjs',
  'v1/Secret': 'kubernetes-models/v1/Secret.mjs',
  'v1/Service': 'kubernetes-models/v1/Service.mjs',
  'v1/PersistentVolumeClaim': 'kubernetes-models/v1/PersistentVolumeClaim.mjs',
  'apps/v1/StatefulSet': 'kubernetes-models/apps/v1/StatefulSet.mjs',
  'batch/v1/CronJob': 'kubernetes-models/batch/v1/CronJob.mjs',
  'policy/v1/PodDisruptionBudget': 'kubernetes-models/policy/v1/PodDisruptionBudget.mjs',
  'networking.k8s.io/v1/NetworkPolicy': 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy.mjs',
  'v1/ServiceAccount': 'kubernetes-models/v1/ServiceAccount.mjs',
  'rbac.authorization.k8s.io/v1/Role': 'kubernetes-models/rbac.authorization.k8s.io/v1/Role.mjs',
  'rbac.authorization.k8s.io/v1/RoleBinding':
    'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding.mjs',
  'monitoring.coreos.com/v1/PodMonitor':
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor.mjs',
  'monitoring.coreos.com/v1/PrometheusRule':
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule.mjs',
};

// Throws unless obj is valid for its apiVersion/kind.
export async function validateSchema(obj) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const rel = modelPaths[key];
  if (!rel) throw new Error(`${key}: no schema known to the test (add it to modelPaths)`);
  const mod = await importTool(rel);
  const Model = mod[obj.kind];
  new Model(obj).validate();
}

// --- Unknown field names -------------------------------------------------------------------
// Built-in kinds: walk @kubernetes/client-node's attributeTypeMap (the OpenAPI field names).
const rootTypes = {
  ConfigMap: 'V1ConfigMap', Secret: 'V1Secret', Service: 'V1Service',
  PersistentVolumeClaim: 'V1PersistentVolumeClaim', StatefulSet: 'V1StatefulSet',
  CronJob: 'V1CronJob', PodDisruptionBudget: 'V1PodDisruptionBudget',
  NetworkPolicy: 'V1NetworkPolicy', ServiceAccount: 'V1ServiceAccount', Role: 'V1Role',
  RoleBinding: 'V1RoleBinding',
};
// The CRDs have no client-node models: the fields this chart may use, spelt out.
const crdFields = {
  PodMonitor: {
    '': ['apiVersion', 'kind', 'metadata', 'spec'],
    spec: ['selector', 'podMetricsEndpoints', 'namespaceSelector', 'jobLabel', 'podTargetLabels'],
    'spec.selector': ['matchLabels', 'matchExpressions'],
    'spec.podMetricsEndpoints[]': ['port', 'path', 'interval', 'scrapeTimeout', 'scheme',
      'relabelings', 'metricRelabelings', 'honorLabels'],
  },
  PrometheusRule: {
    '': ['apiVersion', 'kind', 'metadata', 'spec'],
    spec: ['groups'],
    'spec.groups[]': ['name', 'interval', 'rules'],
    'spec.groups[].rules[]': ['alert', 'record', 'expr', 'for', 'labels', 'annotations'],
  },
};

let clientModels;
async function models() {
  clientModels ??= await importTool('@kubernetes/client-node/dist/gen/models/all.js');
  return clientModels;
}

function walkModel(all, typeName, value, where, errors) {
  if (value == null) return;
  const arr = /^Array<(.+)>$/.exec(typeName);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => walkModel(all, arr[1], v, `${where}[${i}]`, errors));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(typeName);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value)) walkModel(all, map[1], v, `${where}.${k}`, errors);
    return;
  }
  const cls = all[typeName];
  if (!cls || typeof cls.getAttributeTypeMap !== 'function') return; // string, number, IntOrString...
  if (typeof value !== 'object' || Array.isArray(value)) return; // kubernetes-models reports types
  const attrs = cls.getAttributeTypeMap();
  for (const [k, v] of Object.entries(value)) {
    const a = attrs.find((x) => x.baseName === k);
    if (!a) {
      errors.push(`${where}.${k}: unknown field of ${typeName} (known: ${attrs.map((x) => x.baseName).join(', ')})`);
      continue;
    }
    walkModel(all, a.type, v, `${where}.${k}`, errors);
  }
}

function walkCrd(spec, value, where, key, errors) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => walkCrd(spec, v, `${where}[${i}]`, `${key}[]`, errors));
    return;
  }
  const known = spec[key];
  if (!known || value == null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (!known.includes(k)) errors.push(`${where}.${k}: unknown field (known: ${known.join(', ')})`);
    else walkCrd(spec, v, `${where}.${k}`, key ? `${key}.${k}` : k, errors);
  }
}

// The misspelt or unknown field names in obj (empty when all are known).
export async function unknownFields(obj) {
  const errors = [];
  const name = `${obj.kind}/${obj.metadata?.name}`;
  if (rootTypes[obj.kind]) walkModel(await models(), rootTypes[obj.kind], obj, name, errors);
  else if (crdFields[obj.kind]) walkCrd(crdFields[obj.kind], obj, name, '', errors);
  else errors.push(`${name}: no field list known to the test`);
  return errors;
}

// Both checks, for every object; returns a list of problems.
export async function checkObjects(objects) {
  const problems = [];
  for (const o of objects) {
    try {
      await validateSchema(o);
    } catch (e) {
      problems.push(`${o.kind}/${o.metadata?.name}: schema: ${e.message}`);
    }
    problems.push(...(await unknownFields(o)));
  }
  return problems;
}

// --- Small accessors ------------------------------------------------------------------------
export const byKind = (objects, kind) => objects.filter((o) => o.kind === kind);
export function one(objects, kind, name) {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ' ' + name : ''}, found ${found.length}: ` +
      objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', '));
  }
  return found[0];
}
// Every pod template of every workload the chart renders: [{where, spec}].
const podTemplatePaths = {
  StatefulSet: (o) => o.spec.template.spec, Deployment: (o) => o.spec.template.spec,
  DaemonSet: (o) => o.spec.template.spec, ReplicaSet: (o) => o.spec.template.spec,
  Job: (o) => o.spec.template.spec, CronJob: (o) => o.spec.jobTemplate.spec.template.spec,
  Pod: (o) => o.spec,
};
export const podSpecs = (objects) => objects.filter((o) => podTemplatePaths[o.kind])
  .map((o) => ({ where: `${o.kind}/${o.metadata.name}`, spec: podTemplatePaths[o.kind](o) }));

// Probe and lifecycle-hook ports that would never be reached: the kubelet resolves a named
// port among the probed container's own ports only (never a sibling's), and a numeric one
// should be some container's port of the pod. Returns a list of problems.
export function probePortProblems(objects) {
  const problems = [];
  for (const { where, spec } of podSpecs(objects)) {
    const all = [...(spec.initContainers ?? []), ...spec.containers];
    const podPorts = new Set(all.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)));
    for (const c of all) {
      const own = new Set((c.ports ?? []).map((p) => p.name).filter(Boolean));
      const handlers = {
        livenessProbe: c.livenessProbe, readinessProbe: c.readinessProbe, startupProbe: c.startupProbe,
        'lifecycle.postStart': c.lifecycle?.postStart, 'lifecycle.preStop': c.lifecycle?.preStop,
      };
      for (const [kind, h] of Object.entries(handlers)) {
        for (const action of ['httpGet', 'tcpSocket', 'grpc']) {
          const port = h?.[action]?.port;
          if (port === undefined) continue;
          const at = `${where} container ${c.name} ${kind}.${action}.port ${JSON.stringify(port)}`;
          if (typeof port === 'string') {
            if (!own.has(port)) problems.push(`${at}: no port of that name in this container (has: ${[...own].join(', ') || 'none'})`);
          } else if (!podPorts.has(port)) {
            problems.push(`${at}: no container of the pod declares it`);
          }
        }
      }
    }
  }
  return problems;
}

export const envOf = (container, name) => container.env?.find((e) => e.name === name);
export const mountAt = (container, p) => container.volumeMounts?.find((m) => m.mountPath === p);
export const matches = (selector, labels) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

export function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', ...opts });
}
