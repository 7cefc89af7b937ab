'use strict';

// Read-path requests (DESIGN.md "Request/reply"): the stream fields each
// method sends, the deadline, and reply keys that never repeat.
const test = require('node:test');
const assert = require('node:assert/strict');
const { MemoryClient, MemoryBadRequestError, OPS } = require('../..');
const { encodeRequest } = require('../../lib/protocol');
const { stubTransport } = require('../helpers/redis');

const UUID = '6c1f3a52-1d2e-4b8a-9c3d-5e6f7a8b9c0d';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('encodeRequest: envelope fields, deadline = now + timeout, reply_to = prefix + request id', () => {
	const r = encodeRequest({
		op: 'search',
		userDatabaseId: 5,
		fields: { query: 'q', limit: '3', skipped: undefined },
		replyPrefix: 'app:reply:',
		timeoutMs: 2500,
		now: 1_000_000,
		requestId: 'rid-1',
	});
	assert.deepEqual(r, {
		requestId: 'rid-1',
		replyTo: 'app:reply:rid-1',
		deadlineMs: 1_002_500,
		fields: {
			op: 'search',
			user_db_id: '5',
			reply_to: 'app:reply:rid-1',
			request_id: 'rid-1',
			deadline_ms: '1002500',
			query: 'q',
			limit: '3',
		},
	});
});

test('encodeRequest: request ids are random UUIDs and reply keys never repeat', () => {
	const keys = new Set();
	const ids = new Set();
	for (let i = 0; i < 10000; i++) {
		const r = encodeRequest({ op: 'stats', userDatabaseId: 1, replyPrefix: 'mem0:reply:', timeoutMs: 1 });
		assert.match(r.requestId, UUID_RE);
		assert.equal(r.replyTo, `mem0:reply:${r.requestId}`);
		keys.add(r.replyTo);
		ids.add(r.requestId);
	}
	assert.equal(keys.size, 10000);
	assert.equal(ids.size, 10000);
});

test('encodeRequest: unknown ops are refused; field values must be strings', () => {
	assert.throws(() => encodeRequest({ op: 'drop', userDatabaseId: 1, replyPrefix: 'p:', timeoutMs: 1 }), MemoryBadRequestError);
	assert.throws(() => encodeRequest({ op: 'search', userDatabaseId: 1, fields: { limit: 3 }, replyPrefix: 'p:', timeoutMs: 1 }), TypeError);
	assert.deepEqual(OPS, ['search', 'context', 'get', 'get_all', 'history', 'delete', 'delete_all', 'stats']);
});

function envelope(fields) {
	const { reply_to: replyTo, request_id: requestId, deadline_ms: deadline, ...rest } = fields;
	return { replyTo, requestId, deadline, rest };
}

// [method call, expected op fields besides the envelope]
const methods = [
	['search with every option', (c) => c.search('What movies do I like?', { sessionId: 'sess-1', userId: 'sean', limit: 5, threshold: 0.25, filters: { topic: 'film', n: 2, ok: true } }, 42),
		{ op: 'search', user_db_id: '42', query: 'What movies do I like?', session_id: 'sess-1', limit: '5', threshold: '0.25', filters: '{"topic":"film","n":2,"ok":true}' }],
	['search with no options', (c) => c.search('q', undefined, '42'), { op: 'search', user_db_id: '42', query: 'q' }],
	['getContextForQuery (cross-session: no session_id)', (c) => c.getContextForQuery('q', 'sess-1', 'sean', 42, { limit: 7 }),
		{ op: 'context', user_db_id: '42', query: 'q', limit: '7' }],
	['getContextForQuery with a numeric limit (Mem0Service form)', (c) => c.getContextForQuery('q', 'sess-1', 'sean', 42, 20),
		{ op: 'context', user_db_id: '42', query: 'q', limit: '20' }],
	['getSessionMemories', (c) => c.getSessionMemories('sess-1', 'sean', 42), { op: 'get_all', user_db_id: '42', session_id: 'sess-1' }],
	['getSessionMemories with a limit', (c) => c.getSessionMemories('sess-1', 'sean', 42, 50), { op: 'get_all', user_db_id: '42', session_id: 'sess-1', limit: '50' }],
	['getAll with every option', (c) => c.getAll(42, { sessionId: 's', limit: 10, offset: 20 }), { op: 'get_all', user_db_id: '42', session_id: 's', limit: '10', offset: '20' }],
	['getAll', (c) => c.getAll(42), { op: 'get_all', user_db_id: '42' }],
	['get', (c) => c.get(UUID, 42), { op: 'get', user_db_id: '42', memory_id: UUID }],
	['history', (c) => c.history(UUID, 42), { op: 'history', user_db_id: '42', memory_id: UUID }],
	['delete', (c) => c.delete(UUID, 42), { op: 'delete', user_db_id: '42', memory_id: UUID }],
	['deleteAll', (c) => c.deleteAll(42), { op: 'delete_all', user_db_id: '42' }],
	['deleteAll purge', (c) => c.deleteAll(42, { purge: true }), { op: 'delete_all', user_db_id: '42', purge: 'true' }],
	['deleteAll purge false', (c) => c.deleteAll(42, { purge: false }), { op: 'delete_all', user_db_id: '42' }],
	['stats', (c) => c.stats(42), { op: 'stats', user_db_id: '42' }],
	['getUserMemoryStats', (c) => c.getUserMemoryStats(42), { op: 'stats', user_db_id: '42' }],
];

for (const [label, call, expected] of methods) {
	test(`request fields: ${label}`, async () => {
		const c = new MemoryClient({ searchStream: 'app:search', replyPrefix: 'app:reply:', timeoutMs: 1234, logger: null });
		const calls = stubTransport(c, (req) => ({ ok: true, results: req.fields.op === 'get' ? [{ id: UUID, memory: 'm' }] : [] }));
		const before = Date.now();
		await call(c);
		const after = Date.now();
		assert.equal(calls.roundTrip.length, 1);
		const { stream, req, trim } = calls.roundTrip[0];
		assert.equal(stream, 'app:search');
		for (const v of Object.values(req.fields)) assert.equal(typeof v, 'string', 'every field is a string');
		const { replyTo, requestId, deadline, rest } = envelope(req.fields);
		assert.deepEqual(rest, expected);
		assert.match(requestId, UUID_RE);
		assert.equal(replyTo, `app:reply:${requestId}`);
		assert.match(deadline, /^\d+$/, 'deadline_ms is absolute epoch milliseconds');
		assert.ok(Number(deadline) >= before + 1234 && Number(deadline) <= after + 1234, `deadline ${deadline}`);
		assert.equal(req.deadlineMs, Number(deadline));
		assert.equal(trim.strategy, 'MINID');
		assert.ok(trim.threshold <= Date.now() - 60000 && trim.threshold >= before - 60000 - 1000);
	});
}

test('requestStreamRetentionMs: 0 never trims the request stream', async () => {
	const c = new MemoryClient({ requestStreamRetentionMs: 0, logger: null });
	const calls = stubTransport(c);
	await c.stats(1);
	assert.equal(calls.roundTrip[0].trim, undefined);
});

test('concurrent calls never share a reply key', async () => {
	const c = new MemoryClient({ logger: null });
	const calls = stubTransport(c);
	await Promise.all(Array.from({ length: 500 }, (_, i) => c.search(`q${i}`, {}, 1)));
	assert.equal(new Set(calls.roundTrip.map((x) => x.req.fields.reply_to)).size, 500);
});
