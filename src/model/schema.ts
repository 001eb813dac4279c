// JSON Schema of *.hvtrace.json, checked with ajv: version 2 (markers and
// unresolved phases) and version 1 (read and upgraded, see upgrade.ts).
import { BOUNDARIES, PHASES } from './trace.js';

const args = {
  type: 'object',
  additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
} as const;
const ns = { type: 'integer', minimum: 0 } as const;
const phase = { enum: [...PHASES] } as const;

export const traceSchemaV1 = {
  $id: 'https://hvscope.dev/hvtrace-1.json',
  type: 'object',
  required: ['format', 'version', 'meta', 'lanes', 'spans', 'instants', 'counters'],
  additionalProperties: false,
  properties: {
    format: { const: 'hvscope-trace' },
    version: { const: 1 },
    meta: {
      type: 'object',
      required: ['source', 'clock'],
      properties: {
        source: { type: 'string' },
        host: { type: 'string' },
        kernel: { type: 'string' },
        hypervisor: { type: 'string' },
        profile: { type: 'string' },
        command: { type: 'array', items: { type: 'string' } },
        clock: { type: 'string' },
        t0ClockUs: { type: 'number' },
        recorded: { type: 'string' },
        inputs: { type: 'array', items: { type: 'string' } },
        unavailable: {
          type: 'array',
          items: {
            type: 'object',
            required: ['what', 'why'],
            properties: { what: { type: 'string' }, why: { type: 'string' } },
          },
        },
        lostEvents: { type: 'integer', minimum: 0 },
      },
    },
    lanes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'kind', 'name'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', minLength: 1 },
          kind: { enum: ['process', 'thread', 'domain', 'guest', 'phases'] },
          name: { type: 'string' },
          pid: { type: 'integer' },
          tid: { type: 'integer' },
          parent: { type: 'string' },
        },
      },
    },
    spans: {
      type: 'array',
      items: {
        type: 'object',
        required: ['lane', 'name', 'start', 'end'],
        additionalProperties: false,
        properties: { lane: { type: 'string' }, name: { type: 'string' }, phase, start: ns, end: ns, args },
      },
    },
    instants: {
      type: 'array',
      items: {
        type: 'object',
        required: ['lane', 'name', 'at'],
        additionalProperties: false,
        properties: { lane: { type: 'string' }, name: { type: 'string' }, phase, at: ns, args },
      },
    },
    counters: {
      type: 'array',
      items: {
        type: 'object',
        required: ['lane', 'name', 'at', 'value'],
        additionalProperties: false,
        properties: { lane: { type: 'string' }, name: { type: 'string' }, at: ns, value: { type: 'number' } },
      },
    },
  },
} as const;

const { $id: _v1Id, required: v1Required, properties: v1Properties, ...v1Rest } = traceSchemaV1;

export const traceSchema = {
  ...v1Rest,
  $id: 'https://hvscope.dev/hvtrace-2.json',
  required: [...v1Required, 'markers', 'unresolvedPhases'],
  properties: {
    ...v1Properties,
    version: { const: 2 },
    markers: {
      type: 'array',
      items: {
        type: 'object',
        required: ['boundary', 'name', 'source', 'rank', 'at'],
        additionalProperties: false,
        properties: {
          boundary: { enum: [...BOUNDARIES] },
          name: { type: 'string' },
          source: { type: 'string' },
          rank: { type: 'integer', minimum: 0 },
          at: ns,
          lane: { type: 'string' },
          detail: { type: 'string' },
        },
      },
    },
    unresolvedPhases: {
      type: 'array',
      items: {
        type: 'object',
        required: ['phase', 'reason'],
        additionalProperties: false,
        properties: { phase, reason: { type: 'string' }, start: ns, end: ns },
      },
    },
  },
} as const;
