'use strict';

/*
 * MemoryClient: the chat backend's side of memworker. Same method names and
 * argument order as the in-process Mem0Service it replaces; writes go to the
 * ingest stream (fire and forget: memworker does the work later), reads are
 * request/reply with memsearch over Redis.
 */
const check = require('./validate');
const { encodeIngestEntries, encodeRequest, decodeReply } = require('./protocol');
const { RedisTransport } = require('./transport');
const { MemoryNotFoundError, MemoryUnavailableError } = require('./errors');

const DEFAULTS = Object.freeze({
	redisUrl: 'redis://127.0.0.1:6379',
	stream: 'mem0:ingest',
	searchStream: 'mem0:search',
	timeoutMs: 5000,
	maxContentBytes: 32768,
	blockingPoolSize: 8,
	replyPrefix: 'mem0:reply:',
	requestStreamRetentionMs: 60000,
	reconnectWaitMs: 1000,
	clientName: 'memworker-client',
});

function positiveInt(v, name, max = Number.MAX_SAFE_INTEGER) {
	if (!Number.isInteger(v) || v < 1 || v > max) throw new RangeError(`MemoryClient: ${name} must be an integer from 1 to ${max}, got ${v}`);
	return v;
}

function nonEmpty(v, name) {
	if (typeof v !== 'string' || v.length === 0) throw new TypeError(`MemoryClient: ${name} must be a non-empty string`);
	return v;
}

/** A trailing argument that is a number (a limit, as Mem0Service took it) or an options object. */
function limitOrOptions(v, name) {
	if (typeof v === 'number' || typeof v === 'string') return { limit: v };
	return check.options(v, name);
}

class MemoryClient {
	/**
	 * @param {object} [options]
	 * @param {string} [options.redisUrl='redis://127.0.0.1:6379']
	 * @param {string} [options.stream='mem0:ingest']        ingest stream (MEM0_STREAM)
	 * @param {string} [options.searchStream='mem0:search']  request stream (MEM0_SEARCH_STREAM)
	 * @param {number} [options.timeoutMs=5000]              per call, from the call to the reply
	 * @param {number} [options.maxContentBytes=32768]       largest message (MEM0_MAX_CONTENT_BYTES)
	 * @param {number} [options.blockingPoolSize=8]          most BLPOP connections
	 * @param {string} [options.replyPrefix='mem0:reply:']   reply keys are replyPrefix + request id
	 * @param {number} [options.requestStreamRetentionMs=60000]  XADD MINID trims older requests; 0: never trim
	 * @param {number} [options.reconnectWaitMs=1000]       while Redis is down, calls wait this long from the start of the outage, then fail at once
	 * @param {{warn?: Function, info?: Function}|null} [options.logger=console]  connection state changes
	 */
	constructor(options = {}) {
		const o = { ...DEFAULTS, ...stripUndefined(options) };
		this.redisUrl = nonEmpty(o.redisUrl, 'redisUrl');
		this.stream = nonEmpty(o.stream, 'stream');
		this.searchStream = nonEmpty(o.searchStream, 'searchStream');
		this.replyPrefix = nonEmpty(o.replyPrefix, 'replyPrefix');
		this.timeoutMs = positiveInt(o.timeoutMs, 'timeoutMs', 3600000);
		this.maxContentBytes = positiveInt(o.maxContentBytes, 'maxContentBytes');
		this.blockingPoolSize = positiveInt(o.blockingPoolSize, 'blockingPoolSize', 1000);
		if (!Number.isInteger(o.requestStreamRetentionMs) || o.requestStreamRetentionMs < 0)
			throw new RangeError('MemoryClient: requestStreamRetentionMs must be a non-negative integer');
		this.requestStreamRetentionMs = o.requestStreamRetentionMs;
		if (!Number.isInteger(o.reconnectWaitMs) || o.reconnectWaitMs < 0)
			throw new RangeError('MemoryClient: reconnectWaitMs must be a non-negative integer');
		this._transport = new RedisTransport({
			redisUrl: this.redisUrl,
			blockingPoolSize: this.blockingPoolSize,
			clientName: nonEmpty(o.clientName, 'clientName'),
			logger: o.logger === undefined ? console : o.logger,
			connectTimeoutMs: this.timeoutMs,
			reconnectWaitMs: o.reconnectWaitMs,
		});
		this._inflight = new Set();
		this._closed = false;
	}

	/**
	 * Connects to Redis. Optional: every call connects on first use. Rejects
	 * with MemoryUnavailableError if Redis is not reachable within timeoutMs
	 * (the client keeps retrying in the background, so later calls work once
	 * Redis is back).
	 */
	async connect() {
		this._assertOpen();
		await this._transport.waitReady(Date.now() + this.timeoutMs, 'connect()', true);
		return this;
	}

	/** Mem0Service compatibility: same as connect(). */
	async initialize() {
		await this.connect();
	}

	/** Stops new calls, lets calls in flight finish (each ends by its deadline), then closes every connection. */
	async quit() {
		if (this._closed) return;
		this._closed = true;
		await Promise.allSettled([...this._inflight]);
		await this._transport.close(false);
	}

	/** Closes every connection at once; calls in flight reject with MemoryUnavailableError. */
	async disconnect() {
		this._closed = true;
		await this._transport.close(true);
	}

	/** Pool state, for metrics and tests: blocking connections open, busy, idle, queued callers, high-water mark. */
	poolStats() {
		const p = this._transport.pool;
		return { size: p.size, busy: p.busyCount, idle: p.idleCount, waiting: p.waitingCount, peak: p.peak, max: this.blockingPoolSize };
	}

	_assertOpen() {
		if (this._closed) throw new MemoryUnavailableError('memory client is closed (quit() was called)');
	}

	_track(promise) {
		this._inflight.add(promise);
		const done = () => this._inflight.delete(promise);
		promise.then(done, done);
		return promise;
	}

	// ---- ingest ------------------------------------------------------------

	/**
	 * Pushes one ingest entry per message and resolves with the stream entry
	 * ids as soon as Redis has them (memworker extracts memories later).
	 *
	 * @param {Array<{role?: string, type?: string, content: string, timestamp?: string|number|Date}>} messages
	 * @param {string} sessionId
	 * @param {string|number|null|undefined} userId   the app's user id, kept in metadata
	 * @param {number|string} userDatabaseId          users.id: every memory is keyed on it
	 * @param {{metadata?: object, messageIds?: Array<string|number>, infer?: boolean}} [options]
	 * @returns {Promise<string[]>}
	 */
	addMessages(messages, sessionId, userId, userDatabaseId, options) {
		return this._track(this._addMessages(messages, sessionId, userId, userDatabaseId, options));
	}

	async _addMessages(messages, sessionId, userId, userDatabaseId, options) {
		const entries = encodeIngestEntries({
			messages,
			sessionId,
			userId,
			userDatabaseId,
			options,
			maxContentBytes: this.maxContentBytes,
		});
		this._assertOpen();
		if (entries.length === 0) return [];
		return this._transport.xadd(this.stream, entries, Date.now() + this.timeoutMs);
	}

	/** Mem0Service compatibility: addMessages([message], …). Resolves to [entryId]. */
	addMessage(message, sessionId, userId, userDatabaseId, options) {
		return this.addMessages([message], sessionId, userId, userDatabaseId, options);
	}

	// ---- read path ---------------------------------------------------------

	/** One request/reply round trip; `build` runs the argument checks and returns the op's fields. */
	_request(op, userDatabaseId, build) {
		let req;
		try {
			const fields = build();
			req = encodeRequest({
				op,
				userDatabaseId,
				fields,
				replyPrefix: this.replyPrefix,
				timeoutMs: this.timeoutMs,
			});
			this._assertOpen();
		} catch (err) {
			return Promise.reject(err);
		}
		const trim = this.requestStreamRetentionMs > 0
			? { strategy: 'MINID', strategyModifier: '~', threshold: Date.now() - this.requestStreamRetentionMs }
			: undefined;
		return this._track(
			this._transport.roundTrip(this.searchStream, req, trim).then((raw) => decodeReply(op, raw, req.requestId)),
		);
	}

	/**
	 * Memories most similar to the query, best first.
	 * @returns {Promise<object[]>} the results array (also reachable as `.results`, like Mem0Service's `{results}`)
	 */
	search(query, options, userDatabaseId) {
		return this._request('search', userDatabaseId, () => {
			const o = check.options(options, 'options');
			const f = { query: check.text(query, 'query', this.maxContentBytes) };
			if (o.sessionId !== undefined && o.sessionId !== null) f.session_id = check.sessionId(o.sessionId, 'options.sessionId');
			if (o.userId !== undefined) check.userId(o.userId, 'options.userId');
			if (o.limit !== undefined && o.limit !== null) f.limit = check.limit(o.limit, 'options.limit');
			if (o.threshold !== undefined && o.threshold !== null) f.threshold = check.threshold(o.threshold, 'options.threshold');
			if (o.filters !== undefined && o.filters !== null) f.filters = check.filters(o.filters, 'options.filters');
			return f;
		});
	}

	/**
	 * Prompt messages for the query: `[{role: 'system', content: '[Relevant Context: <memory>]'}, …]`.
	 * Searches all of the user's sessions (as Mem0Service did); sessionId and
	 * userId are checked but do not narrow. The fifth argument is `{limit}` or,
	 * as Mem0Service took it, a number.
	 */
	getContextForQuery(query, sessionId, userId, userDatabaseId, options) {
		return this._request('context', userDatabaseId, () => {
			const o = limitOrOptions(options, 'options');
			const f = { query: check.text(query, 'query', this.maxContentBytes) };
			check.sessionId(sessionId);
			check.userId(userId);
			if (o.limit !== undefined && o.limit !== null) f.limit = check.limit(o.limit, 'options.limit');
			return f;
		});
	}

	/** The session's memories (op get_all narrowed to the session). Fourth argument: `{limit, offset}` or a limit. */
	getSessionMemories(sessionId, userId, userDatabaseId, options) {
		return this._request('get_all', userDatabaseId, () => {
			const o = limitOrOptions(options, 'options');
			check.userId(userId);
			return getAllFields(o, check.sessionId(sessionId));
		});
	}

	/** All of the user's memories, newest first as memsearch sends them, optionally one session's. */
	getAll(userDatabaseId, options) {
		return this._request('get_all', userDatabaseId, () => {
			const o = check.options(options, 'options');
			const session = o.sessionId !== undefined && o.sessionId !== null ? check.sessionId(o.sessionId, 'options.sessionId') : undefined;
			return getAllFields(o, session);
		});
	}

	/** One memory; rejects with MemoryNotFoundError when the user has no such memory. */
	get(memoryId, userDatabaseId) {
		return this._request('get', userDatabaseId, () => ({ memory_id: check.memoryId(memoryId) }));
	}

	/** The memory's change history (created/updated/deleted rows). */
	history(memoryId, userDatabaseId) {
		return this._request('history', userDatabaseId, () => ({ memory_id: check.memoryId(memoryId) }));
	}

	/** Deletes one memory; resolves true, or rejects with MemoryNotFoundError. */
	delete(memoryId, userDatabaseId) {
		return this._request('delete', userDatabaseId, () => ({ memory_id: check.memoryId(memoryId) }));
	}

	/**
	 * Deletes all of the user's memories; `purge: true` also drops their
	 * history. Resolves to the reply's fields (e.g. `{deleted: 12}`).
	 */
	deleteAll(userDatabaseId, options) {
		return this._request('delete_all', userDatabaseId, () => {
			const o = check.options(options, 'options');
			const f = {};
			if (o.purge !== undefined && o.purge !== null) {
				if (check.boolean(o.purge, 'options.purge')) f.purge = 'true';
			}
			return f;
		});
	}

	/** The user's memory statistics, as memsearch reports them. */
	stats(userDatabaseId) {
		return this._request('stats', userDatabaseId, () => ({}));
	}

	// ---- Mem0Service compatibility helpers ---------------------------------

	/** Mem0Service compatibility: stats(userDatabaseId). */
	getUserMemoryStats(userDatabaseId) {
		return this.stats(userDatabaseId);
	}

	/**
	 * Deletes the session's memories one by one (get_all narrowed to the
	 * session, then delete each: never delete_all, which is user-wide).
	 * Resolves to the number deleted.
	 */
	async deleteSessionMemories(sessionId, userId, userDatabaseId) {
		check.sessionId(sessionId);
		check.userId(userId);
		check.userDatabaseId(userDatabaseId);
		let deleted = 0;
		const seen = new Set();
		for (;;) {
			const page = await this.getAll(userDatabaseId, { sessionId, limit: check.MAX_LIMIT });
			const fresh = page.filter((m) => m && typeof m.id === 'string' && !seen.has(m.id));
			if (fresh.length === 0) return deleted;
			const outcomes = await Promise.allSettled(fresh.map((m) => {
				seen.add(m.id);
				return this.delete(m.id, userDatabaseId);
			}));
			for (const r of outcomes) {
				if (r.status === 'fulfilled') deleted++;
				else if (!(r.reason instanceof MemoryNotFoundError)) throw r.reason;
			}
		}
	}

	/** Mem0Service compatibility: the history of each of the session's memories, `[{memoryId, history}]`. */
	async getMemoryHistory(sessionId, userId, userDatabaseId) {
		const memories = await this.getSessionMemories(sessionId, userId, userDatabaseId);
		return Promise.all(memories.filter((m) => m && typeof m.id === 'string').map(async (m) => ({
			memoryId: m.id,
			history: await this.history(m.id, userDatabaseId),
		})));
	}
}

function getAllFields(o, session) {
	const f = {};
	if (session !== undefined) f.session_id = session;
	if (o.limit !== undefined && o.limit !== null) f.limit = check.limit(o.limit, 'options.limit');
	if (o.offset !== undefined && o.offset !== null) f.offset = check.offset(o.offset, 'options.offset');
	return f;
}

function stripUndefined(o) {
	const out = {};
	for (const [k, v] of Object.entries(o || {})) if (v !== undefined) out[k] = v;
	return out;
}

let shared = null;

/**
 * A process-wide client (like Mem0Service's getMem0Service), configured from
 * the options or the daemons' environment names: REDIS_URL, MEM0_STREAM,
 * MEM0_SEARCH_STREAM, MEM0_MAX_CONTENT_BYTES, MEM0_CLIENT_TIMEOUT_MS.
 */
function getMemoryClient(options = {}) {
	if (!shared || shared._closed) {
		const env = process.env;
		const num = (v) => (v !== undefined && v !== '' ? Number(v) : undefined);
		shared = new MemoryClient({
			redisUrl: env.REDIS_URL,
			stream: env.MEM0_STREAM,
			searchStream: env.MEM0_SEARCH_STREAM,
			maxContentBytes: num(env.MEM0_MAX_CONTENT_BYTES),
			timeoutMs: num(env.MEM0_CLIENT_TIMEOUT_MS),
			...options,
		});
	}
	return shared;
}

module.exports = { MemoryClient, getMemoryClient, DEFAULTS };
