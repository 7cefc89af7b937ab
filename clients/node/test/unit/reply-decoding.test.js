'use strict';

// Replies (DESIGN.md "Request/reply"): what every op resolves to, and the
// error each error code becomes.
const test = require('node:test');
const assert = require('node:assert/strict');
const lib = require('../..');
const { decodeReply } = require('../../lib/protocol');
const { stubTransport } = require('../helpers/redis');

const { MemoryClient, MemoryError, MemoryBadRequestError, MemoryNotFoundError, MemoryTimeoutError, MemoryUnavailableError } = lib;
const RID = 'b1c2d3e4-0000-4000-8000-000000000001';
const MID = '0b6f1c1e-8a7d-4c55-9a43-2f1d3b0e9c10';
const mem = (i) => ({
	id: MID.replace(/0$/, String(i)),
	memory: `memory ${i}`,
	score: 1 - i / 10,
	session_id: 's',
	metadata: { i },
	created_at: '2025-01-01T00:00:00Z',
	updated_at: '2025-01-01T00:00:00Z',
});
const ok = (extra) => JSON.stringify({ ok: true, request_id: RID, took_ms: 3, ...extra });

test('search: the results array, also reachable as .results', () => {
	const r = decodeReply('search', ok({ results: [mem(1), mem(2)] }), RID);
	assert.ok(Array.isArray(r));
	assert.deepEqual([...r], [mem(1), mem(2)]);
	assert.equal(r.results, r);
	assert.deepEqual(Object.keys(r), ['0', '1'], '.results is not enumerable (JSON.stringify, spread and for-in see the array only)');
	assert.equal(JSON.stringify(r), JSON.stringify([mem(1), mem(2)]));
	assert.deepEqual([...decodeReply('search', ok({ results: [] }), RID)], []);
});

test('context: {role, content} prompt messages, nothing else', () => {
	const results = [
		{ role: 'system', content: '[Relevant Context: User is named Sean]', id: 'x', score: 0.9 },
		{ role: 'system', content: '[Relevant Context: User loves sci-fi movies]' },
	];
	assert.deepEqual(decodeReply('context', ok({ results }), RID), [
		{ role: 'system', content: '[Relevant Context: User is named Sean]' },
		{ role: 'system', content: '[Relevant Context: User loves sci-fi movies]' },
	]);
});

test('context: memory records are turned into prompt messages the way Mem0Service did', () => {
	assert.deepEqual(decodeReply('context', ok({ results: [mem(1)] }), RID), [{ role: 'system', content: '[Relevant Context: memory 1]' }]);
	assert.throws(() => decodeReply('context', ok({ results: [{ foo: 1 }] }), RID), (e) => e.code === 'internal');
});

test('get: the memory; an empty answer is MemoryNotFoundError', () => {
	assert.deepEqual(decodeReply('get', ok({ results: [mem(1)] }), RID), mem(1));
	assert.deepEqual(decodeReply('get', ok({ results: mem(2) }), RID), mem(2));
	assert.deepEqual(decodeReply('get', ok({ memory: mem(3) }), RID), mem(3));
	assert.throws(() => decodeReply('get', ok({ results: [] }), RID), MemoryNotFoundError);
});

test('get_all and history: the results array', () => {
	assert.deepEqual(decodeReply('get_all', ok({ results: [mem(1), mem(2)] }), RID), [mem(1), mem(2)]);
	const rows = [{ id: 1, memory_id: MID, action: 'created', previous_content: null, new_content: 'a' }, { id: 2, memory_id: MID, action: 'updated', previous_content: 'a', new_content: 'b' }];
	assert.deepEqual(decodeReply('history', ok({ results: rows }), RID), rows);
});

test('delete: true', () => {
	assert.equal(decodeReply('delete', ok({ results: [] }), RID), true);
	assert.equal(decodeReply('delete', ok({}), RID), true);
});

test('delete_all: the reply fields without the envelope', () => {
	assert.deepEqual(decodeReply('delete_all', ok({ deleted: 12 }), RID), { deleted: 12 });
});

test('stats: the stats object, wherever the reply puts it', () => {
	const stats = { total_memories: 3, total_sessions: 2, last_memory_at: '2025-01-01T00:00:00Z' };
	assert.deepEqual(decodeReply('stats', ok({ results: stats }), RID), stats);
	assert.deepEqual(decodeReply('stats', ok({ stats }), RID), stats);
	assert.deepEqual(decodeReply('stats', ok(stats), RID), stats);
});

test('a Buffer reply decodes like text', () => {
	assert.equal(decodeReply('delete', Buffer.from(ok({})), RID), true);
});

const codes = [
	['bad_request', MemoryBadRequestError],
	['not_found', MemoryNotFoundError],
	['timeout', MemoryTimeoutError],
	['unavailable', MemoryUnavailableError],
	['internal', MemoryError],
];
for (const op of lib.OPS) {
	for (const [code, Cls] of codes) {
		test(`${op}: error code ${code} -> ${Cls.name}`, () => {
			const raw = JSON.stringify({ ok: false, request_id: RID, error: { code, message: `it went ${code}` } });
			assert.throws(() => decodeReply(op, raw, RID), (err) => {
				assert.ok(err instanceof Cls, err.name);
				assert.ok(err instanceof MemoryError);
				assert.equal(err.code, code);
				assert.equal(err.message, `it went ${code}`);
				assert.equal(err.requestId, RID);
				return true;
			});
		});
	}
}

test('an unknown error code is a MemoryError carrying that code; a bare error a MemoryError internal', () => {
	assert.throws(() => decodeReply('search', JSON.stringify({ ok: false, error: { code: 'overloaded', message: 'm' } }), RID), (e) =>
		e.constructor === MemoryError && e.code === 'overloaded');
	assert.throws(() => decodeReply('search', JSON.stringify({ ok: false }), RID), (e) => e.constructor === MemoryError && e.code === 'internal');
	assert.throws(() => decodeReply('search', JSON.stringify({ ok: false, error: 'plain text' }), RID), (e) => e.code === 'internal' && e.message === 'plain text');
});

test('malformed replies are MemoryError internal, never a crash or a wrong result', () => {
	const bad = ['not json', '[1,2]', '"text"', 'null', JSON.stringify({ results: [] }), JSON.stringify({ ok: 'yes', results: [] }),
		JSON.stringify({ ok: true }), JSON.stringify({ ok: true, results: {} })];
	for (const raw of bad) {
		assert.throws(() => decodeReply('search', raw, RID), (e) => e instanceof MemoryError && e.code === 'internal', raw);
	}
	assert.throws(() => decodeReply('search', 42, RID), (e) => e.code === 'internal');
});

test("a reply carrying another request's id is refused", () => {
	const raw = JSON.stringify({ ok: true, request_id: 'someone-else', results: [] });
	assert.throws(() => decodeReply('search', raw, RID), (e) => e.code === 'internal' && /someone-else/.test(e.message));
	// A reply without request_id is accepted: the reply key is already unique.
	assert.deepEqual([...decodeReply('search', JSON.stringify({ ok: true, results: [] }), RID)], []);
});

// Through the public methods, with a stub transport answering canned replies.
test('methods resolve as documented', async () => {
	const c = new MemoryClient({ logger: null });
	const replies = {
		search: { ok: true, results: [mem(1)] },
		context: { ok: true, results: [{ role: 'system', content: '[Relevant Context: memory 1]' }] },
		get: { ok: true, results: [mem(1)] },
		get_all: { ok: true, results: [mem(1), mem(2)] },
		history: { ok: true, results: [{ action: 'created' }] },
		delete: { ok: true },
		delete_all: { ok: true, deleted: 2 },
		stats: { ok: true, total_memories: 2 },
	};
	stubTransport(c, (req) => replies[req.fields.op]);
	const s = await c.search('q', {}, 1);
	assert.equal(s.results[0].memory, 'memory 1');
	assert.deepEqual(await c.getContextForQuery('q', 's', 'u', 1), [{ role: 'system', content: '[Relevant Context: memory 1]' }]);
	assert.deepEqual(await c.get(MID, 1), mem(1));
	assert.equal((await c.getAll(1)).length, 2);
	assert.equal((await c.getSessionMemories('s', 'u', 1)).length, 2);
	assert.deepEqual(await c.history(MID, 1), [{ action: 'created' }]);
	assert.equal(await c.delete(MID, 1), true);
	assert.deepEqual(await c.deleteAll(1), { deleted: 2 });
	assert.deepEqual(await c.stats(1), { total_memories: 2 });
});

test('methods reject with the reply error', async () => {
	const c = new MemoryClient({ logger: null });
	stubTransport(c, () => ({ ok: false, error: { code: 'not_found', message: 'no such memory' } }));
	await assert.rejects(c.get(MID, 1), MemoryNotFoundError);
	await assert.rejects(c.delete(MID, 1), MemoryNotFoundError);
});

test('deleteSessionMemories deletes the session memories one by one, never with delete_all', async () => {
	const c = new MemoryClient({ logger: null });
	let pages = [[mem(1), mem(2)], [mem(3)], []];
	const ops = [];
	stubTransport(c, (req) => {
		ops.push(req.fields);
		if (req.fields.op === 'get_all') return { ok: true, results: pages.shift() };
		if (req.fields.op === 'delete' && req.fields.memory_id === mem(2).id) return { ok: false, error: { code: 'not_found', message: 'gone' } };
		return { ok: true };
	});
	assert.equal(await c.deleteSessionMemories('s', 'u', 1), 2, 'a memory already gone does not count and does not fail');
	assert.ok(ops.every((f) => f.op === 'get_all' || f.op === 'delete'));
	assert.ok(ops.filter((f) => f.op === 'get_all').every((f) => f.session_id === 's' && f.limit === '100'));
	assert.equal(ops.filter((f) => f.op === 'delete').length, 3);
	pages = [[mem(1)], [mem(1)]];
	// A memory that keeps coming back is not deleted forever.
	assert.equal(await c.deleteSessionMemories('s', 'u', 1), 1);
});

test('getMemoryHistory: [{memoryId, history}] for the session memories', async () => {
	const c = new MemoryClient({ logger: null });
	stubTransport(c, (req) => req.fields.op === 'get_all'
		? { ok: true, results: [mem(1)] }
		: { ok: true, results: [{ action: 'created', memory_id: req.fields.memory_id }] });
	assert.deepEqual(await c.getMemoryHistory('s', 'u', 1), [{ memoryId: mem(1).id, history: [{ action: 'created', memory_id: mem(1).id }] }]);
});
