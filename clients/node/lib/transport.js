'use strict';

/*
 * Redis side of the client, on node-redis:
 *
 * - one shared command connection for XADD (ingest and requests) and the odd
 *   LPOP; node-redis pipelines everything issued on it, and reconnects by
 *   itself with capped backoff. Its offline queue is off: a command waits
 *   (until its caller's deadline) for the connection to be ready before it is
 *   issued, and a command that failed is never sent later behind the
 *   caller's back;
 * - a BlockingPool of dedicated connections for BLPOP, made on demand, up to
 *   blockingPoolSize. They do not reconnect: a connection that fails is
 *   dropped and a fresh one made for the next caller.
 */
const { createClient, ErrorReply } = require('redis');
const { BlockingPool } = require('./pool');
const { MemoryError, MemoryTimeoutError, MemoryUnavailableError } = require('./errors');

/** Extra time a BLPOP may take past its own server-side timeout before the connection is given up. */
const BLPOP_GRACE_MS = 1000;
/** Redis error replies that mean "try again later", not "your request is wrong". */
const TRANSIENT_REPLY = /^(LOADING|READONLY|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|OOM|NOREPLICAS)\b/;

function mapRedisError(err, what) {
	if (err instanceof MemoryError) return err;
	if (err instanceof ErrorReply || (err && err.constructor && err.constructor.name === 'SimpleError')) {
		const msg = String(err.message || err);
		if (TRANSIENT_REPLY.test(msg)) return new MemoryUnavailableError(`Redis refused ${what}: ${msg}`, { cause: err });
		return new MemoryError(`Redis refused ${what}: ${msg}`, { code: 'internal', cause: err });
	}
	return new MemoryUnavailableError(`Redis unavailable during ${what}: ${(err && err.message) || err}`, { cause: err });
}

/** The URL without its password, for messages. */
function redact(url) {
	return url.replace(/\/\/[^@/]*@/, '//***@');
}

/** Resolves like `promise`, or rejects with `onTimeout()` at the deadline. */
function withDeadline(promise, deadlineMs, onTimeout) {
	let timer;
	const guard = new Promise((_, reject) => {
		timer = setTimeout(() => reject(onTimeout()), Math.max(0, deadlineMs - Date.now()));
	});
	return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

class RedisTransport {
	/**
	 * @param {object} o
	 * @param {string} o.redisUrl
	 * @param {number} o.blockingPoolSize
	 * @param {string} o.clientName  CLIENT SETNAME prefix
	 * @param {{warn?: Function, info?: Function}|null} o.logger
	 * @param {number} o.connectTimeoutMs
	 */
	constructor(o) {
		this._url = o.redisUrl;
		this._name = o.clientName;
		this._logger = o.logger;
		this._connectTimeoutMs = o.connectTimeoutMs;
		this._reconnectWaitMs = o.reconnectWaitMs;
		this._downSince = null;
		this._main = null;
		this._connecting = null;
		this._readyWait = null;
		this._down = false;
		this._closed = false;
		this._blockingSeq = 0;
		this.pool = new BlockingPool({ size: o.blockingPoolSize, create: (d) => this._createBlocking(d) });
	}

	_options(name, reconnect) {
		return {
			url: this._url,
			name,
			socket: {
				connectTimeout: this._connectTimeoutMs,
				// The main connection retries with capped backoff; blocking ones are replaced instead.
				reconnectStrategy: reconnect ? (retries) => Math.min(50 * 2 ** Math.min(retries, 6), 2000) + Math.floor(Math.random() * 100) : false,
			},
			// Fail, do not queue, while disconnected: callers wait for readiness themselves (waitReady).
			disableOfflineQueue: true,
			// No maintenance-notification handshake: plain Redis, not Redis Enterprise.
			maintNotifications: 'disabled',
		};
	}

	_log(level, msg) {
		const l = this._logger;
		if (l && typeof l[level] === 'function') l[level](msg);
	}

	/** Starts the main connection if it is not started; never rejects. Returns a promise of readiness. */
	start() {
		if (this._closed) throw new MemoryUnavailableError('memory client is closed');
		if (this._main) return this._connecting;
		const c = createClient(this._options(this._name, true));
		c.on('error', (err) => {
			if (this._downSince === null) this._downSince = Date.now();
			if (!this._down) {
				this._down = true;
				this._log('warn', `[memworker-client] Redis connection error (${redact(this._url)}): ${err.message}; reconnecting`);
			}
		});
		c.on('ready', () => {
			this._downSince = null;
			if (this._down) {
				this._down = false;
				this._log('info', '[memworker-client] Redis connection restored');
			}
		});
		this._main = c;
		this._connecting = c.connect().then(
			() => true,
			() => false,
		);
		return this._connecting;
	}

	get isReady() {
		return !!(this._main && this._main.isReady);
	}

	/**
	 * Waits until the main connection is ready, at most until the deadline.
	 * During an outage (an error seen, not ready since) a call waits only
	 * until reconnectWaitMs after the outage began, so a blip is ridden out
	 * but a Redis that stays down fails every call at once; `patient` (an
	 * explicit connect()) waits for the whole deadline regardless.
	 */
	async waitReady(deadlineMs, what = 'connecting', patient = false) {
		this.start();
		for (;;) {
			if (this._main.isReady) return;
			const limit = !patient && this._downSince !== null ? Math.min(deadlineMs, this._downSince + this._reconnectWaitMs) : deadlineMs;
			const left = limit - Date.now();
			if (left <= 0) {
				throw new MemoryUnavailableError(`Redis at ${redact(this._url)} is not reachable (${what}); reconnecting in the background`);
			}
			// Re-check at least every 50 ms: an outage noticed meanwhile shortens the wait.
			await withDeadline(this._whenReady(), Date.now() + Math.min(left, 50), () => null).catch(() => {});
		}
	}

	/** One shared promise per wait for 'ready' (no listener per caller). */
	_whenReady() {
		if (!this._readyWait) {
			const main = this._main;
			this._readyWait = new Promise((resolve) => {
				main.once('ready', () => {
					this._readyWait = null;
					resolve();
				});
			});
		}
		return this._readyWait;
	}

	/**
	 * XADDs entries (arrays of field objects) to a stream, in one MULTI when
	 * there are several. Resolves to the entry ids.
	 */
	async xadd(stream, entries, deadlineMs, trim) {
		const what = `XADD to ${stream}`;
		await this.waitReady(deadlineMs, what);
		const c = this._main;
		const opts = trim ? { TRIM: trim } : undefined;
		let p;
		if (entries.length === 1) {
			p = c.xAdd(stream, '*', entries[0], opts).then((id) => [id]);
		} else {
			const m = c.multi();
			for (const e of entries) m.xAdd(stream, '*', e, opts);
			p = m.exec();
		}
		try {
			const ids = await withDeadline(p, deadlineMs + BLPOP_GRACE_MS,
				() => new MemoryTimeoutError(`Redis did not answer ${what} in time`));
			return ids.map(String);
		} catch (err) {
			throw mapRedisError(err, what);
		}
	}

	/**
	 * One request/reply round trip: XADD the request, then BLPOP its reply key
	 * on a pooled blocking connection. Resolves to the raw reply text.
	 */
	async roundTrip(stream, req, trim) {
		await this.xadd(stream, [req.fields], req.deadlineMs, trim);
		const timeoutMsg = () => `no reply from memsearch within the deadline (op ${req.fields.op}, request ${req.requestId})`;
		let conn;
		try {
			conn = await this.pool.acquire(req.deadlineMs);
		} catch (err) {
			if (!(err instanceof MemoryTimeoutError)) throw mapRedisError(err, 'opening a blocking connection');
			// Every blocking connection stayed busy; the reply may be waiting all the same.
			const late = await this._lpop(req.replyTo);
			if (late !== null) return late;
			throw new MemoryTimeoutError(timeoutMsg(), { requestId: req.requestId });
		}
		const remaining = req.deadlineMs - Date.now();
		if (remaining <= 0) {
			this.pool.release(conn);
			const late = await this._lpop(req.replyTo);
			if (late !== null) return late;
			throw new MemoryTimeoutError(timeoutMsg(), { requestId: req.requestId });
		}
		const seconds = (Math.max(remaining, 10) / 1000).toFixed(3);
		let reply;
		try {
			reply = await withDeadline(conn.blPop(req.replyTo, Number(seconds)), req.deadlineMs + BLPOP_GRACE_MS,
				() => new MemoryTimeoutError(`${timeoutMsg()}; Redis did not end the BLPOP either`, { requestId: req.requestId }));
		} catch (err) {
			// Failed or possibly still blocked: never hand this connection out again.
			this.pool.release(conn, true);
			throw mapRedisError(err, `BLPOP ${req.replyTo}`);
		}
		this.pool.release(conn);
		if (reply === null) throw new MemoryTimeoutError(timeoutMsg(), { requestId: req.requestId });
		return reply.element;
	}

	async _lpop(key) {
		try {
			if (!this._main || !this._main.isReady) return null;
			return await withDeadline(this._main.lPop(key), Date.now() + BLPOP_GRACE_MS, () => new Error('LPOP timed out'));
		} catch {
			return null;
		}
	}

	async _createBlocking(deadlineMs) {
		const c = createClient(this._options(`${this._name}:blpop:${++this._blockingSeq}`, false));
		c.on('error', () => {
			/* the main connection reports outages; this one is discarded on its next use */
		});
		try {
			await withDeadline(c.connect(), deadlineMs,
				() => new MemoryUnavailableError('could not open a blocking Redis connection before the deadline'));
		} catch (err) {
			try {
				c.destroy();
			} catch {
				/* not open */
			}
			throw mapRedisError(err, 'opening a blocking connection');
		}
		return c;
	}

	/** Closes every connection: gracefully (pending replies first) unless `force`. */
	async close(force = false) {
		this._closed = true;
		this.pool.close();
		const c = this._main;
		this._main = null;
		if (!c) return;
		try {
			if (force || !c.isReady) c.destroy();
			else await c.close();
		} catch {
			try {
				c.destroy();
			} catch {
				/* already closed */
			}
		}
	}
}

module.exports = { RedisTransport, mapRedisError, withDeadline, BLPOP_GRACE_MS };
