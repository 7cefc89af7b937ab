'use strict';

// The blocking-connection pool on its own, with fake connections.
const test = require('node:test');
const assert = require('node:assert/strict');
const { BlockingPool } = require('../../lib/pool');
const { MemoryTimeoutError, MemoryUnavailableError } = require('../..');
const { sleep } = require('../helpers/redis');

function fakes() {
	const made = [];
	const create = async () => {
		const conn = { id: made.length + 1, isReady: true, destroyed: false, destroy() { this.destroyed = true; this.isReady = false; } };
		made.push(conn);
		return conn;
	};
	return { made, create };
}

const soon = () => Date.now() + 5000;

test('connections are made on demand, then reused', async () => {
	const { made, create } = fakes();
	const pool = new BlockingPool({ size: 3, create });
	assert.equal(pool.size, 0, 'nothing is opened up front');
	const a = await pool.acquire(soon());
	pool.release(a);
	const b = await pool.acquire(soon());
	assert.equal(a, b);
	assert.equal(made.length, 1);
	pool.release(b);
	pool.close();
});

test('at most `size` connections; later callers queue and are served first come, first served', async () => {
	const { made, create } = fakes();
	const pool = new BlockingPool({ size: 2, create });
	const held = await Promise.all([pool.acquire(soon()), pool.acquire(soon())]);
	const order = [];
	const waiting = [1, 2, 3].map((n) => pool.acquire(soon()).then((c) => {
		order.push(n);
		return c;
	}));
	await sleep(10);
	assert.equal(made.length, 2);
	assert.equal(pool.waitingCount, 3);
	assert.equal(pool.busyCount, 2);
	pool.release(held[0]);
	const w1 = await waiting[0];
	pool.release(held[1]);
	const w2 = await waiting[1];
	pool.release(w1);
	const w3 = await waiting[2];
	assert.deepEqual(order, [1, 2, 3]);
	assert.equal(made.length, 2);
	assert.equal(pool.peak, 2);
	pool.release(w2);
	pool.release(w3);
	pool.close();
});

test('a queued caller gives up at its deadline with MemoryTimeoutError', async () => {
	const { create } = fakes();
	const pool = new BlockingPool({ size: 1, create });
	const held = await pool.acquire(soon());
	const t = Date.now();
	await assert.rejects(pool.acquire(Date.now() + 80), MemoryTimeoutError);
	assert.ok(Date.now() - t >= 70);
	assert.equal(pool.waitingCount, 0, 'the timed-out caller left the queue');
	pool.release(held);
	assert.equal(pool.idleCount, 1);
	pool.close();
});

test('a discarded or broken connection is closed and replaced on demand', async () => {
	const { made, create } = fakes();
	const pool = new BlockingPool({ size: 1, create });
	const a = await pool.acquire(soon());
	pool.release(a, true);
	assert.ok(a.destroyed);
	assert.equal(pool.size, 0);
	const b = await pool.acquire(soon());
	assert.notEqual(a, b);
	b.isReady = false; // e.g. its socket closed while idle
	pool.release(b);
	const c = await pool.acquire(soon());
	assert.equal(c.id, 3);
	assert.equal(made.length, 3);
	pool.release(c);
	pool.close();
});

test('a failure to connect rejects a waiting caller with that error', async () => {
	const pool = new BlockingPool({ size: 2, create: async () => { throw new MemoryUnavailableError('refused'); } });
	await assert.rejects(pool.acquire(soon()), (e) => e instanceof MemoryUnavailableError && e.message === 'refused');
	assert.equal(pool.size, 0);
	pool.close();
});

test('close() rejects queued callers and closes every connection', async () => {
	const { made, create } = fakes();
	const pool = new BlockingPool({ size: 1, create });
	const held = await pool.acquire(soon());
	const queued = pool.acquire(soon());
	pool.close();
	await assert.rejects(queued, MemoryUnavailableError);
	assert.ok(made[0].destroyed);
	pool.release(held);
	await assert.rejects(pool.acquire(soon()), MemoryUnavailableError);
});
