'use strict';

// Redis down: every call fails with MemoryUnavailableError within its
// timeout (no Redis needed: the client points at a closed loopback port).
const test = require('node:test');
const assert = require('node:assert/strict');
const { MemoryClient, MemoryUnavailableError } = require('../..');
const { closedPort } = require('../helpers/redis');

async function downClient(extra = {}) {
	const logs = [];
	const c = new MemoryClient({
		redisUrl: `redis://127.0.0.1:${await closedPort()}`,
		timeoutMs: 300,
		logger: { warn: (m) => logs.push(m), info: (m) => logs.push(m) },
		...extra,
	});
	return { c, logs };
}

/** Runs fn with a client on a closed port, and always closes it (a live client keeps reconnecting, and the test file would never end). */
async function withDown(extra, fn) {
	const { c, logs } = await downClient(extra);
	try {
		await fn(c, logs);
	} finally {
		await c.disconnect();
	}
}

function unavailable(err) {
	assert.ok(err instanceof MemoryUnavailableError, `${err && err.name}: ${err && err.message}`);
	assert.equal(err.code, 'unavailable');
	return true;
}

test('connect() rejects with MemoryUnavailableError after timeoutMs', () => withDown({}, async (c, logs) => {
	const t = Date.now();
	await assert.rejects(c.connect(), unavailable);
	const took = Date.now() - t;
	assert.ok(took >= 250 && took < 2000, `${took} ms`);
	assert.equal(logs.length, 1, 'one warning per outage, not one per retry');
	assert.match(logs[0], /Redis connection error/);
}));

test('addMessages and search reject with MemoryUnavailableError, not hang', () => withDown({}, async (c) => {
	const t = Date.now();
	await assert.rejects(c.addMessages([{ role: 'user', content: 'hello' }], 's', 'u', 1), unavailable);
	await assert.rejects(c.search('q', {}, 1), unavailable);
	await assert.rejects(c.getContextForQuery('q', 's', 'u', 1), unavailable);
	assert.ok(Date.now() - t < 3000);
}));

test('passwords in the URL are not logged', async () => {
	const port = await closedPort();
	const logs = [];
	const c = new MemoryClient({ redisUrl: `redis://:s3cret@127.0.0.1:${port}`, timeoutMs: 200, logger: { warn: (m) => logs.push(m) } });
	try {
		await assert.rejects(c.connect(), (e) => unavailable(e) && !e.message.includes('s3cret'));
		assert.ok(logs.length > 0 && logs.every((l) => !l.includes('s3cret')), logs.join('\n'));
	} finally {
		await c.disconnect();
	}
});

test('quit() before any call, and twice, is harmless', async () => {
	const { c } = await downClient();
	await c.quit();
	await c.quit();
	await assert.rejects(c.search('q', {}, 1), unavailable);
});

test('once Redis has been down longer than reconnectWaitMs, calls fail at once', () => withDown({ timeoutMs: 2000, reconnectWaitMs: 100 }, async (c) => {
	let t = Date.now();
	await assert.rejects(c.search('q', {}, 1), unavailable);
	assert.ok(Date.now() - t < 1000, `the first call waits for the outage window only (${Date.now() - t} ms), not timeoutMs`);
	t = Date.now();
	await assert.rejects(c.addMessages([{ role: 'user', content: 'x' }], 's', 'u', 1), unavailable);
	await assert.rejects(c.stats(1), unavailable);
	assert.ok(Date.now() - t < 100, `later calls fail at once (${Date.now() - t} ms)`);
	// An explicit connect() is patient: it waits its whole timeout.
	t = Date.now();
	await assert.rejects(c.connect(), unavailable);
	assert.ok(Date.now() - t >= 1900, `connect() gave up after ${Date.now() - t} ms`);
}));
