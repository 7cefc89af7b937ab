'use strict';

// Redis going away and coming back, with a redis-server of the test's own
// (started on a free loopback port, killed and restarted by its pid).
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const { MemoryClient, MemoryUnavailableError } = require('../..');
const { closedPort, sleep, startResponder } = require('../helpers/redis');

const haveRedisServer = spawnSync('redis-server', ['--version']).status === 0;

async function startRedis(port) {
	const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
	const net = require('node:net');
	for (let i = 0; i < 100; i++) {
		const up = await new Promise((resolve) => {
			const s = net.connect(port, '127.0.0.1', () => {
				s.end();
				resolve(true);
			});
			s.on('error', () => resolve(false));
		});
		if (up) return child;
		await sleep(50);
	}
	child.kill('SIGKILL');
	throw new Error('redis-server did not start');
}

async function kill(child) {
	if (child.exitCode !== null || child.signalCode !== null) return;
	const exited = new Promise((r) => child.once('exit', r));
	child.kill('SIGKILL');
	await exited;
}

test('an outage fails calls fast with MemoryUnavailableError, and the client recovers by itself', {
	skip: haveRedisServer ? false : 'redis-server is not on PATH',
	timeout: 60000,
}, async () => {
	const port = await closedPort();
	const url = `redis://127.0.0.1:${port}`;
	let server = await startRedis(port);
	const logs = [];
	const c = new MemoryClient({ redisUrl: url, searchStream: 'rc:search', stream: 'rc:ingest', timeoutMs: 3000, reconnectWaitMs: 300, logger: { warn: (m) => logs.push(m), info: (m) => logs.push(m) } });
	const answer = (f) => (f.query === 'hang' ? undefined : { ok: true, request_id: f.request_id, results: [{ id: 'x', memory: f.query }] });
	const responderOn = () => startResponder('rc:search', answer, { url });
	let responder;
	try {
		await c.connect();
		responder = await responderOn();
		assert.equal((await c.search('before', {}, 1))[0].memory, 'before');

		// A read blocked in BLPOP when Redis dies ends at once, not at its timeout.
		const t = Date.now();
		const blocked = c.search('hang', {}, 1);
		await sleep(100);
		await responder.stop().catch(() => {});
		responder = null;
		await kill(server);
		await assert.rejects(blocked, MemoryUnavailableError);
		assert.ok(Date.now() - t < 1500, `in-flight read failed after ${Date.now() - t} ms`);

		// While it is down, calls fail within reconnectWaitMs of the outage being noticed, then at once.
		await assert.rejects(c.addMessages([{ role: 'user', content: 'x' }], 's', 'u', 1), MemoryUnavailableError);
		await sleep(400);
		const t2 = Date.now();
		await assert.rejects(c.search('down', {}, 1), MemoryUnavailableError);
		assert.ok(Date.now() - t2 < 200, `a call during a long outage took ${Date.now() - t2} ms`);

		// Back on the same port: the client reconnects and works again, blocking pool included.
		server = await startRedis(port);
		await sleep(2500); // reconnect backoff is capped at about 2 s
		assert.equal((await c.addMessages([{ role: 'user', content: 'after' }], 's', 'u', 1)).length, 1);
		responder = await responderOn();
		assert.equal((await c.search('after', {}, 1))[0].memory, 'after');
		assert.ok(logs.some((l) => /connection error/.test(l)) && logs.some((l) => /restored/.test(l)), logs.join('\n'));
		assert.equal(logs.filter((l) => /connection error/.test(l)).length, 1, 'one warning for the outage, not one per retry');
	} finally {
		if (responder) await responder.stop().catch(() => {});
		await c.disconnect();
		await kill(server);
	}
});
