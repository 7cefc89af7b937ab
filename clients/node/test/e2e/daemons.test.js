'use strict';

// End to end: this client against the real memworker and memsearch, with the
// project's mock LLM, a fresh PostgreSQL database and Redis on loopback.
// `npm run test:e2e` with MW_TEST_BIN, MW_TEST_PG_PORT and MW_TEST_REDIS_PORT
// set (scripts/test.sh exports them); skipped, with the reason, otherwise.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { createClient } = require('redis');
const { MemoryClient, MemoryTimeoutError, MemoryNotFoundError } = require('../..');
const { Stack, skipReason, poll } = require('../helpers/daemons');

const skip = skipReason();
const USER1 = 101;
const USER2 = 202;
const SCIFI = /sci[\s-]?fi/i;

describe('memworker + memsearch end to end', { skip, timeout: 600000 }, () => {
	let stack;
	let redis;
	let client;
	let user1MemoryId;

	const logs = () => (stack ? stack.logs() : '');
	const alive = () => stack.assertRunning();
	const mentions = (results, re) => results.some((r) => re.test(String(r.memory)));

	before(async () => {
		stack = new Stack();
		redis = createClient({ url: stack.redisUrl });
		redis.on('error', () => {});
		await redis.connect();
		await stack.createDatabase();
		await stack.migrate();
		await stack.startMockLLM();
		stack.startDaemon('memworker');
		stack.startDaemon('memsearch');
		await stack.waitForGroup(redis, 'memworker', stack.stream);
		await stack.waitForGroup(redis, 'memsearch', stack.searchStream);
		client = new MemoryClient({
			redisUrl: stack.redisUrl,
			stream: stack.stream,
			searchStream: stack.searchStream,
			replyPrefix: `${stack.searchStream}:reply:`,
			timeoutMs: 20000,
			logger: null,
		});
		await client.connect();
		// memsearch answers (anything: an empty result set is an answer).
		await poll(async () => Array.isArray(await client.getAll(USER1, { limit: 1 })), { timeoutMs: 30000, describe: logs, check: alive });
	});

	after(async () => {
		if (client) await client.disconnect();
		if (stack) await stack.teardown(redis);
		if (redis) redis.destroy();
	});

	/** Memories with `re` in them, as soon as the user's search finds one. */
	async function waitForMemory(userDbId, query, re) {
		return poll(async () => {
			const results = await client.search(query, { limit: 20 }, userDbId);
			return mentions(results, re) ? results : null;
		}, { timeoutMs: 90000, intervalMs: 300, describe: logs, check: alive });
	}

	test('an exchange pushed by addMessages becomes a memory that search finds', async () => {
		const sessionId = `sess-${crypto.randomUUID()}`;
		const ids = await client.addMessages([
			{ role: 'user', content: 'My name is Sean. I love sci-fi movies.' },
			{ role: 'assistant', content: 'Nice to meet you, Sean! Which sci-fi film is your favourite?' },
		], sessionId, 'sean', USER1, { metadata: { source: 'e2e' } });
		assert.equal(ids.length, 2);
		for (const id of ids) assert.match(id, /^\d+-\d+$/);

		const results = await waitForMemory(USER1, 'What movies do I like?', SCIFI);
		const hit = results.find((r) => SCIFI.test(r.memory));
		assert.match(hit.id, /^[0-9a-f-]{36}$/, JSON.stringify(hit));
		assert.equal(typeof hit.score, 'number');
		assert.ok(hit.score <= 1.000001, `score ${hit.score} is a similarity (higher is better, at most 1)`);
		for (let i = 1; i < results.length; i++) assert.ok(results[i - 1].score >= results[i].score, 'best first');
		user1MemoryId = hit.id;

		const sessionMemories = await client.getSessionMemories(sessionId, 'sean', USER1);
		assert.ok(mentions(sessionMemories, SCIFI), JSON.stringify(sessionMemories));
		for (const m of sessionMemories) if (m.session_id !== undefined) assert.equal(m.session_id, sessionId);
	});

	test('getContextForQuery gives [Relevant Context: …] system messages', async () => {
		const ctx = await client.getContextForQuery('What movies do I like?', `another-session-${crypto.randomUUID()}`, 'sean', USER1, { limit: 5 });
		assert.ok(ctx.length >= 1 && ctx.length <= 5, JSON.stringify(ctx));
		for (const m of ctx) {
			assert.deepEqual(Object.keys(m).sort(), ['content', 'role']);
			assert.equal(m.role, 'system');
			assert.match(m.content, /^\[Relevant Context: [\s\S]+\]$/);
		}
		assert.ok(ctx.some((m) => SCIFI.test(m.content)), `context from another session still knows the user: ${JSON.stringify(ctx)}`);
	});

	test("users are isolated: user 2 never sees user 1's memories, nor the reverse", async () => {
		assert.ok(user1MemoryId, 'needs the memory of the first test');
		await client.addMessages([
			{ role: 'user', content: 'My name is Alice. I love gardening and tomatoes.' },
			{ role: 'assistant', content: 'Lovely, Alice! Gardening is relaxing.' },
		], `sess-${crypto.randomUUID()}`, 'alice', USER2);
		await waitForMemory(USER2, 'What are my hobbies?', /garden/i);

		const forUser2 = [
			...(await client.search('What movies do I like?', { limit: 100 }, USER2)),
			...(await client.search('Sean sci-fi movies', { limit: 100 }, USER2)),
			...(await client.getAll(USER2, { limit: 100 })),
		];
		assert.ok(!mentions(forUser2, SCIFI) && !mentions(forUser2, /sean/i), `user 2 saw user 1: ${JSON.stringify(forUser2)}`);
		assert.ok(forUser2.every((m) => m.id !== user1MemoryId));
		const ctx2 = await client.getContextForQuery('What movies do I like?', 's', 'alice', USER2);
		assert.ok(ctx2.every((m) => !SCIFI.test(m.content)), JSON.stringify(ctx2));

		const forUser1 = [
			...(await client.search('gardening tomatoes Alice', { limit: 100 }, USER1)),
			...(await client.getAll(USER1, { limit: 100 })),
		];
		assert.ok(!mentions(forUser1, /garden|alice/i), `user 1 saw user 2: ${JSON.stringify(forUser1)}`);

		// Another user's memory id is "not found", for reading and for deleting.
		await assert.rejects(client.get(user1MemoryId, USER2), MemoryNotFoundError);
		const hist = await client.history(user1MemoryId, USER2).catch((e) => e);
		assert.ok(hist instanceof MemoryNotFoundError || (Array.isArray(hist) && hist.length === 0), `user 2 saw history: ${JSON.stringify(hist)}`);
		await assert.rejects(client.delete(user1MemoryId, USER2), MemoryNotFoundError);
		assert.equal((await client.get(user1MemoryId, USER1)).id, user1MemoryId, "user 2's delete left user 1's memory alone");
	});

	test('get, history, stats and delete of one memory', async () => {
		const USER = 303;
		await client.addMessages([{ role: 'user', content: 'Favourite colour: teal-e2e-marker' }], `sess-${crypto.randomUUID()}`, 'carol', USER, { infer: false });
		const found = await poll(async () => (await client.getAll(USER, { limit: 100 })).find((m) => /teal-e2e-marker/.test(m.memory)), { timeoutMs: 60000, describe: logs, check: alive });
		const mem = await client.get(found.id, USER);
		assert.equal(mem.id, found.id);
		assert.match(mem.memory, /teal-e2e-marker/);
		const hist = await client.history(found.id, USER);
		assert.ok(Array.isArray(hist) && hist.length >= 1, JSON.stringify(hist));
		assert.ok(hist.some((h) => h.action === 'created' || h.event === 'ADD'), JSON.stringify(hist));
		const stats = await client.stats(USER);
		assert.equal(typeof stats, 'object');
		assert.ok(stats !== null && !Array.isArray(stats));
		assert.equal(await client.delete(found.id, USER), true);
		await assert.rejects(client.get(found.id, USER), MemoryNotFoundError);
		await assert.rejects(client.delete(found.id, USER), MemoryNotFoundError);
	});

	test('200 concurrent searches across users each get their own, correct reply', async (ctx) => {
		const users = [401, 402, 403, 404];
		const token = Object.fromEntries(users.map((u) => [u, `zq${u}${crypto.randomBytes(3).toString('hex')}`]));
		await Promise.all(users.map((u) => client.addMessages([{ role: 'user', content: `The secret marker word is ${token[u]}` }],
			`sess-${u}`, `u${u}`, u, { infer: false })));
		for (const u of users) {
			await poll(async () => (await client.getAll(u, { limit: 10 })).some((m) => m.memory.includes(token[u])), { timeoutMs: 60000, describe: logs, check: alive });
		}
		const n = 200;
		const t = Date.now();
		const results = await Promise.all(Array.from({ length: n }, (_, i) => {
			const u = users[i % users.length];
			return client.search(`secret marker word ${token[u]}`, { limit: 5 }, u);
		}));
		const took = Date.now() - t;
		results.forEach((r, i) => {
			const u = users[i % users.length];
			assert.ok(r.length >= 1, `search ${i} (user ${u}) found nothing`);
			for (const m of r) {
				assert.ok(m.memory.includes(token[u]), `search ${i} for user ${u} got ${JSON.stringify(m)}`);
				for (const other of users) if (other !== u) assert.ok(!m.memory.includes(token[other]), `crossed reply: ${JSON.stringify(m)}`);
			}
		});
		assert.ok(client.poolStats().peak <= client.blockingPoolSize);
		ctx.diagnostic(`200 concurrent searches in ${took} ms`);
	});

	test('with memsearch stopped, calls end in MemoryTimeoutError', async () => {
		const exit = await stack.procs.memsearch.stop();
		assert.ok(exit.code === 0 || exit.signal === 'SIGTERM', `memsearch exit on SIGTERM: ${JSON.stringify(exit)}\n${stack.procs.memsearch.describe()}`);
		const quick = new MemoryClient({ redisUrl: stack.redisUrl, searchStream: stack.searchStream, replyPrefix: `${stack.searchStream}:reply:`, timeoutMs: 1000, logger: null });
		try {
			const t = Date.now();
			await assert.rejects(quick.search('What movies do I like?', {}, USER1), (e) => e instanceof MemoryTimeoutError && e.code === 'timeout');
			const took = Date.now() - t;
			assert.ok(took >= 900 && took < 5000, `${took} ms`);
			await assert.rejects(quick.getContextForQuery('anything', 's', 'sean', USER1), MemoryTimeoutError);
		} finally {
			await quick.quit();
		}
		// Writes do not need memsearch: they still go into the stream.
		const ids = await client.addMessages([{ role: 'user', content: 'still accepted' }], 's', 'sean', USER1);
		assert.equal(ids.length, 1);
	});
});
