'use strict';

// The request/reply path over a real Redis, answered by a fake memsearch
// (test/helpers/redis.js startResponder) that reads the request stream in a
// consumer group and LPUSHes replies, as memsearch does. Skipped, with the
// reason, when MW_TEST_REDIS_PORT is not set.
const test = require('node:test');
const assert = require('node:assert/strict');
const { MemoryClient, MemoryTimeoutError, MemoryNotFoundError, MemoryBadRequestError, MemoryUnavailableError } = require('../..');
const { needsRedis, redisUrl, connect, uniq, sleep, startResponder, blockingConnections } = require('../helpers/redis');

const opts = { skip: needsRedis, timeout: 60000 };

/** A client on fresh stream and reply names, and a way to clean up after it. */
function setup(extra = {}) {
	const searchStream = uniq('test:search');
	const clientName = uniq('mwtest');
	const client = new MemoryClient({ redisUrl, searchStream, stream: uniq('test:ingest'), clientName, replyPrefix: `${searchStream}:reply:`, logger: null, ...extra });
	const cleanup = [];
	return {
		client,
		searchStream,
		clientName,
		defer: (fn) => cleanup.push(fn),
		async done() {
			for (const fn of cleanup.reverse()) await fn();
			await client.quit();
			const admin = await connect();
			const keys = await admin.keys(`${searchStream}*`);
			if (keys.length) await admin.del(keys);
			admin.destroy();
		},
	};
}

/** Echoes the request's query back as the memory of one result, after a random delay, so replies finish out of order. */
const echo = (maxDelayMs) => async (f) => {
	await sleep(Math.floor(Math.random() * maxDelayMs));
	return {
		ok: true,
		request_id: f.request_id,
		results: [{ id: f.request_id, memory: f.query, score: 1, session_id: f.session_id || null, metadata: { user_db_id: f.user_db_id }, created_at: '2025-01-01T00:00:00Z', updated_at: '2025-01-01T00:00:00Z' }],
		took_ms: 1,
	};
};

test('200 concurrent searches each get their own reply, none crossed', opts, async () => {
	const s = setup({ blockingPoolSize: 8, timeoutMs: 20000 });
	const responder = await startResponder(s.searchStream, echo(30));
	s.defer(() => responder.stop());
	try {
		const admin = await connect();
		s.defer(() => admin.destroy());
		let maxBlocking = 0;
		let sampling = true;
		const sampler = (async () => {
			while (sampling) {
				maxBlocking = Math.max(maxBlocking, (await blockingConnections(admin, s.clientName)).length);
				await sleep(5);
			}
		})();
		const n = 200;
		const results = await Promise.all(Array.from({ length: n }, (_, i) =>
			s.client.search(`query number ${i} ${'x'.repeat(i % 7)}`, { sessionId: `sess-${i}`, limit: 3 }, 1000 + (i % 13))));
		sampling = false;
		await sampler;
		for (let i = 0; i < n; i++) {
			assert.equal(results[i].length, 1);
			assert.equal(results[i][0].memory, `query number ${i} ${'x'.repeat(i % 7)}`, `search ${i} got another request's reply`);
			assert.equal(results[i][0].session_id, `sess-${i}`);
			assert.equal(results[i][0].metadata.user_db_id, String(1000 + (i % 13)));
		}
		assert.equal(responder.requests.length, n);
		assert.equal(new Set(responder.requests.map((r) => r.reply_to)).size, n, 'every request has its own reply key');
		assert.equal(new Set(responder.requests.map((r) => r.request_id)).size, n);
		for (const r of responder.requests) {
			assert.equal(r.reply_to, `${s.searchStream}:reply:${r.request_id}`);
			assert.equal(r.op, 'search');
			assert.equal(r.limit, '3');
		}
		const st = s.client.poolStats();
		assert.ok(st.peak <= 8, `pool peak ${st.peak}`);
		assert.ok(maxBlocking <= 8, `Redis saw ${maxBlocking} blocking connections`);
		assert.ok(maxBlocking >= 2, 'concurrent calls used several blocking connections');
		assert.equal(st.busy, 0);
		assert.equal(st.waiting, 0);
		// Every reply key was consumed: nothing left behind.
		assert.deepEqual(await admin.keys(`${s.searchStream}:reply:*`), []);
	} finally {
		await s.done();
	}
});

test('blockingPoolSize is respected: no more BLPOP connections than the pool size, the rest queue', opts, async () => {
	const s = setup({ blockingPoolSize: 3, timeoutMs: 20000 });
	const responder = await startResponder(s.searchStream, async (f) => {
		await sleep(40);
		return { ok: true, request_id: f.request_id, results: [{ id: f.request_id, memory: f.query }] };
	});
	s.defer(() => responder.stop());
	try {
		const admin = await connect();
		s.defer(() => admin.destroy());
		const calls = Array.from({ length: 30 }, (_, i) => s.client.search(`q${i}`, {}, 1));
		let maxOpen = 0;
		let maxWaiting = 0;
		let sawBlocked = 0;
		const deadline = Date.now() + 15000;
		let settled = false;
		Promise.allSettled(calls).then(() => (settled = true));
		while (!settled && Date.now() < deadline) {
			const conns = await blockingConnections(admin, s.clientName);
			maxOpen = Math.max(maxOpen, conns.length);
			sawBlocked = Math.max(sawBlocked, conns.filter((c) => c.cmd === 'blpop').length);
			maxWaiting = Math.max(maxWaiting, s.client.poolStats().waiting);
			await sleep(3);
		}
		const results = await Promise.all(calls);
		results.forEach((r, i) => assert.equal(r[0].memory, `q${i}`));
		assert.ok(maxOpen <= 3, `Redis saw ${maxOpen} blocking connections for a pool of 3`);
		assert.equal(s.client.poolStats().peak, 3);
		assert.ok(sawBlocked >= 1, 'BLPOP ran on the pooled connections');
		assert.ok(maxWaiting > 0, 'callers queued once the pool was full');
		assert.equal((await blockingConnections(admin, s.clientName)).length, 3, 'connections are kept for reuse');
	} finally {
		await s.done();
	}
});

test('no responder: MemoryTimeoutError (code timeout) after timeoutMs', opts, async () => {
	const s = setup({ timeoutMs: 300 });
	try {
		const t = Date.now();
		await assert.rejects(s.client.search('anyone there?', {}, 1), (err) => {
			assert.ok(err instanceof MemoryTimeoutError, err.stack);
			assert.equal(err.code, 'timeout');
			assert.match(err.requestId, /^[0-9a-f-]{36}$/);
			return true;
		});
		const took = Date.now() - t;
		assert.ok(took >= 280 && took < 2000, `timed out after ${took} ms`);
		// The request is in the stream, with its deadline, for whoever comes.
		const admin = await connect();
		s.defer(() => admin.destroy());
		const [entry] = await admin.xRange(s.searchStream, '-', '+');
		assert.equal(entry.message.query, 'anyone there?');
		const deadline = Number(entry.message.deadline_ms);
		assert.ok(deadline >= t + 300 && deadline <= t + 400, `deadline_ms ${deadline} for a call at ${t}`);
		assert.equal(s.client.poolStats().busy, 0, 'the blocking connection went back to the pool');
	} finally {
		await s.done();
	}
});

test('callers queued behind a full pool time out at their own deadline, not one after another', opts, async () => {
	const s = setup({ timeoutMs: 400, blockingPoolSize: 1 });
	try {
		const t = Date.now();
		const outcomes = await Promise.allSettled([1, 2, 3, 4].map((i) => s.client.search(`q${i}`, {}, 1)));
		const took = Date.now() - t;
		for (const o of outcomes) assert.ok(o.status === 'rejected' && o.reason instanceof MemoryTimeoutError, String(o.reason));
		assert.ok(took < 1500, `4 queued calls took ${took} ms`);
	} finally {
		await s.done();
	}
});

test('a reply that arrives while its caller is still queued is not lost', opts, async () => {
	const s = setup({ timeoutMs: 500, blockingPoolSize: 1 });
	// "slow" is never answered and holds the only blocking connection for its whole timeout;
	// "fast" is answered at once, but its caller can only BLPOP after "slow" gives the connection back.
	const responder = await startResponder(s.searchStream, (f) => (f.query === 'slow' ? undefined : { ok: true, request_id: f.request_id, results: [{ id: 'x', memory: f.query }] }));
	s.defer(() => responder.stop());
	try {
		const slow = s.client.search('slow', {}, 1);
		await sleep(50);
		const fast = s.client.search('fast', {}, 1);
		await assert.rejects(slow, MemoryTimeoutError);
		const r = await fast;
		assert.equal(r[0].memory, 'fast');
	} finally {
		await s.done();
	}
});

test('error replies over Redis become the matching errors', opts, async () => {
	const s = setup({ timeoutMs: 5000 });
	const responder = await startResponder(s.searchStream, (f) => ({ ok: false, request_id: f.request_id, error: { code: f.query, message: `said ${f.query}` } }));
	s.defer(() => responder.stop());
	try {
		await assert.rejects(s.client.search('not_found', {}, 1), MemoryNotFoundError);
		await assert.rejects(s.client.search('bad_request', {}, 1), MemoryBadRequestError);
		await assert.rejects(s.client.search('timeout', {}, 1), (e) => e instanceof MemoryTimeoutError && e.message === 'said timeout');
		await assert.rejects(s.client.search('unavailable', {}, 1), MemoryUnavailableError);
		await assert.rejects(s.client.search('internal', {}, 1), (e) => e.code === 'internal' && e.message === 'said internal');
	} finally {
		await s.done();
	}
});

test('every op travels over Redis and is decoded', opts, async () => {
	const s = setup({ timeoutMs: 5000 });
	const MID = '0b6f1c1e-8a7d-4c55-9a43-2f1d3b0e9c10';
	const responder = await startResponder(s.searchStream, (f) => {
		const base = { ok: true, request_id: f.request_id, took_ms: 1 };
		switch (f.op) {
			case 'context': return { ...base, results: [{ role: 'system', content: `[Relevant Context: ${f.query}]` }] };
			case 'get': return { ...base, results: [{ id: f.memory_id, memory: 'm' }] };
			case 'history': return { ...base, results: [{ memory_id: f.memory_id, action: 'created' }] };
			case 'delete_all': return { ...base, deleted: f.purge === 'true' ? 5 : 4 };
			case 'stats': return { ...base, results: { total_memories: 9 } };
			case 'get_all': return { ...base, results: [{ id: MID, memory: `${f.session_id}/${f.limit}/${f.offset}` }] };
			default: return { ...base, results: [] };
		}
	});
	s.defer(() => responder.stop());
	try {
		assert.deepEqual(await s.client.getContextForQuery('films', 's', 'u', 1, 5), [{ role: 'system', content: '[Relevant Context: films]' }]);
		assert.equal((await s.client.get(MID, 1)).id, MID);
		assert.equal((await s.client.history(MID, 1))[0].action, 'created');
		assert.equal(await s.client.delete(MID, 1), true);
		assert.deepEqual(await s.client.deleteAll(1, { purge: true }), { deleted: 5 });
		assert.deepEqual(await s.client.stats(1), { total_memories: 9 });
		assert.equal((await s.client.getAll(1, { sessionId: 'x', limit: 2, offset: 4 }))[0].memory, 'x/2/4');
		assert.equal((await s.client.getSessionMemories('y', 'u', 1))[0].memory, 'y/undefined/undefined');
	} finally {
		await s.done();
	}
});

test('quit() lets calls in flight finish, then refuses new ones', opts, async () => {
	const s = setup({ timeoutMs: 5000 });
	const responder = await startResponder(s.searchStream, async (f) => {
		await sleep(150);
		return { ok: true, request_id: f.request_id, results: [{ id: 'x', memory: f.query }] };
	});
	s.defer(() => responder.stop());
	try {
		const pending = s.client.search('in flight', {}, 1);
		await sleep(20);
		await s.client.quit();
		assert.equal((await pending)[0].memory, 'in flight');
		await assert.rejects(s.client.search('late', {}, 1), MemoryUnavailableError);
		await assert.rejects(s.client.addMessages([{ role: 'user', content: 'late' }], 's', 'u', 1), MemoryUnavailableError);
	} finally {
		await s.done();
	}
});

test('the request stream is trimmed to requestStreamRetentionMs by XADD MINID', opts, async () => {
	const s = setup({ timeoutMs: 200, requestStreamRetentionMs: 1 });
	const admin = await connect();
	s.defer(() => admin.destroy());
	try {
		// Old entries (ids from 2001) that an approximate trim may drop once a macro node is full.
		for (let i = 0; i < 300; i++) await admin.xAdd(s.searchStream, `1000000000${String(i).padStart(3, '0')}-0`, { old: '1' });
		await assert.rejects(s.client.stats(1), MemoryTimeoutError);
		const left = await admin.xLen(s.searchStream);
		assert.ok(left < 301, `${left} entries left`);
	} finally {
		await s.done();
	}
});
