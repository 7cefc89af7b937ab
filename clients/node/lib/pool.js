'use strict';

/*
 * A small pool of dedicated connections for blocking commands (BLPOP).
 *
 * A connection blocked in BLPOP can carry nothing else until the reply (or
 * the timeout) comes, so each concurrent waiter needs a connection of its
 * own. Connections are made lazily, up to `size`; past that, callers queue
 * (first come, first served) until one is released or their deadline passes.
 * A connection that failed or may still be blocked is discarded, never
 * reused, and its slot is refilled on demand.
 */
const { MemoryTimeoutError, MemoryUnavailableError } = require('./errors');

class BlockingPool {
	/**
	 * @param {object} opts
	 * @param {number} opts.size  most connections open at once
	 * @param {(deadlineMs: number) => Promise<{isReady: boolean, destroy(): void}>} opts.create
	 */
	constructor({ size, create }) {
		if (!Number.isInteger(size) || size < 1) throw new RangeError('blocking pool size must be a positive integer');
		this._max = size;
		this._create = create;
		this._idle = [];
		this._busy = new Set();
		this._creating = 0;
		this._waiters = [];
		this._closed = false;
		this.peak = 0;
	}

	/** Connections open or being opened. */
	get size() {
		return this._idle.length + this._busy.size + this._creating;
	}

	get idleCount() {
		return this._idle.length;
	}

	get busyCount() {
		return this._busy.size;
	}

	get waitingCount() {
		return this._waiters.length;
	}

	/** A connection for the caller's exclusive use until release(); rejects at the deadline. */
	acquire(deadlineMs) {
		if (this._closed) return Promise.reject(new MemoryUnavailableError('memory client is closed'));
		return new Promise((resolve, reject) => {
			const waiter = { resolve, reject, deadlineMs, timer: null };
			const wait = Math.max(0, deadlineMs - Date.now());
			waiter.timer = setTimeout(() => {
				this._removeWaiter(waiter);
				reject(new MemoryTimeoutError(`no blocking connection became free within the deadline (pool size ${this._max})`));
			}, wait);
			this._waiters.push(waiter);
			this._dispatch();
		});
	}

	/** Gives a connection back; `discard` (or a connection no longer ready) closes it instead. */
	release(conn, discard = false) {
		if (!this._busy.delete(conn)) return;
		if (discard || this._closed || !conn.isReady) {
			destroyQuietly(conn);
		} else {
			this._idle.push(conn);
		}
		this._dispatch();
	}

	/** Rejects the queued callers and closes every connection, busy ones included. */
	close() {
		this._closed = true;
		for (const w of this._waiters.splice(0)) {
			clearTimeout(w.timer);
			w.reject(new MemoryUnavailableError('memory client is closed'));
		}
		for (const c of this._idle.splice(0)) destroyQuietly(c);
		for (const c of this._busy) destroyQuietly(c);
		this._busy.clear();
	}

	_removeWaiter(waiter) {
		const i = this._waiters.indexOf(waiter);
		if (i >= 0) this._waiters.splice(i, 1);
	}

	_dispatch() {
		while (this._waiters.length && this._idle.length) {
			const conn = this._idle.pop();
			if (!conn.isReady) {
				destroyQuietly(conn);
				continue;
			}
			const w = this._waiters.shift();
			clearTimeout(w.timer);
			this._busy.add(conn);
			w.resolve(conn);
		}
		// Open connections for callers still waiting, up to the pool size.
		while (!this._closed && this._waiters.length > this._creating && this.size < this._max) {
			this._open(this._waiters[this._creating].deadlineMs);
		}
		this.peak = Math.max(this.peak, this.size);
	}

	_open(deadlineMs) {
		this._creating++;
		this._create(deadlineMs).then(
			(conn) => {
				this._creating--;
				if (this._closed) {
					destroyQuietly(conn);
					return;
				}
				this._idle.push(conn);
				this._dispatch();
			},
			(err) => {
				this._creating--;
				// Whoever waits longest learns why: Redis is most likely down for all of them.
				const w = this._waiters.shift();
				if (w) {
					clearTimeout(w.timer);
					w.reject(err);
				}
				this._dispatch();
			},
		);
	}
}

function destroyQuietly(conn) {
	try {
		conn.destroy();
	} catch {
		/* already closed */
	}
}

module.exports = { BlockingPool };
