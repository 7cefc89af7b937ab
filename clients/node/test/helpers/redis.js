'use strict';

/*
 * Test support: the real Redis that scripts/test.sh starts (MW_TEST_REDIS_PORT),
 * a fake memsearch that answers requests from that Redis, and a stub
 * transport for pure tests of the client's encoding and decoding.
 */
const net = require('node:net');
const crypto = require('node:crypto');
const { createClient } = require('redis');

const port = process.env.MW_TEST_REDIS_PORT ? Number(process.env.MW_TEST_REDIS_PORT) : null;
const redisUrl = port ? `redis://127.0.0.1:${port}` : null;
/** For `test(name, { skip: needsRedis }, …)`: false when a Redis is available, else the reason printed as SKIP. */
const needsRedis = port ? false : 'MW_TEST_REDIS_PORT is not set: no Redis to test against (scripts/test.sh starts one)';

function uniq(prefix) {
	return `${prefix}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
}

async function connect(url = redisUrl) {
	const c = createClient({ url });
	c.on('error', () => {});
	await c.connect();
	return c;
}

/** A loopback port nothing listens on (bound, then released). */
function closedPort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.once('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port: p } = s.address();
			s.close(() => resolve(p));
		});
	});
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A fake memsearch: reads the request stream in a consumer group (from the
 * start, so requests sent before it runs are answered too) and LPUSHes
 * `await handler(fields)` as JSON on each request's reply_to. A handler
 * returning undefined sends no reply. Answers concurrently, in whatever
 * order the handlers finish. `url` defaults to the MW_TEST_REDIS_PORT Redis.
 */
async function startResponder(stream, handler, { group = 'fake-memsearch', url = redisUrl } = {}) {
	const reader = await connect(url);
	const writer = await connect(url);
	try {
		await reader.xGroupCreate(stream, group, '0', { MKSTREAM: true });
	} catch (err) {
		if (!/BUSYGROUP/.test(err.message)) throw err;
	}
	const requests = [];
	const pending = new Set();
	let running = true;
	const loop = (async () => {
		while (running) {
			const res = await reader.xReadGroup(group, 'c1', { key: stream, id: '>' }, { COUNT: 1000, BLOCK: 50 });
			if (!res) continue;
			for (const s of res) {
				for (const m of s.messages) {
					requests.push(m.message);
					const p = (async () => {
						const reply = await handler(m.message);
						if (reply !== undefined) {
							const body = typeof reply === 'string' ? reply : JSON.stringify(reply);
							await writer.multi().lPush(m.message.reply_to, body).pExpire(m.message.reply_to, 60000).exec();
						}
						await writer.xAck(stream, group, m.id);
					})().catch(() => {});
					pending.add(p);
					p.finally(() => pending.delete(p));
				}
			}
		}
	})();
	return {
		requests,
		async stop() {
			running = false;
			await loop.catch(() => {});
			await Promise.allSettled([...pending]);
			reader.destroy();
			writer.destroy();
		},
	};
}

/** Blocking connections of a client (by CLIENT SETNAME) as Redis sees them. */
async function blockingConnections(admin, clientName) {
	const list = await admin.clientList();
	return list.filter((c) => typeof c.name === 'string' && c.name.startsWith(`${clientName}:blpop:`));
}

/**
 * Replaces a MemoryClient's transport with a recorder: xadd/roundTrip calls
 * are kept, and roundTrip answers with `reply(req)` (JSON text or an object).
 */
function stubTransport(client, reply = () => ({ ok: true, results: [] })) {
	const calls = { xadd: [], roundTrip: [] };
	client._transport = {
		pool: { size: 0, busyCount: 0, idleCount: 0, waitingCount: 0, peak: 0 },
		async xadd(stream, entries, deadlineMs) {
			calls.xadd.push({ stream, entries, deadlineMs });
			return entries.map((_, i) => `1-${i}`);
		},
		async roundTrip(stream, req, trim) {
			calls.roundTrip.push({ stream, req, trim });
			const r = await reply(req);
			if (r instanceof Error) throw r;
			return typeof r === 'string' ? r : JSON.stringify({ request_id: req.requestId, ...r });
		},
		async waitReady() {},
		async close() {},
	};
	return calls;
}

module.exports = { port, redisUrl, needsRedis, uniq, connect, closedPort, sleep, startResponder, blockingConnections, stubTransport };
