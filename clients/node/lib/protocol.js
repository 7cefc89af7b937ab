'use strict';

/*
 * The wire contract with memworker and memsearch (DESIGN.md, "Ingest entry"
 * and "Request/reply"), as pure functions: no Redis here, so every field can
 * be unit-tested exactly.
 */
const crypto = require('node:crypto');
const check = require('./validate');
const { MemoryError, MemoryNotFoundError, MemoryBadRequestError, errorFromReply } = require('./errors');

/** Entry format version written in every ingest entry. */
const ENTRY_VERSION = '1';

const OPS = Object.freeze(['search', 'context', 'get', 'get_all', 'history', 'delete', 'delete_all', 'stats']);

/**
 * One ingest entry (field -> string) per message.
 *
 * A message is `{role, content}`; the chat app's stored messages
 * (`{type, content, timestamp}`) are accepted too: `type` stands in for
 * `role`, and `timestamp` (or `createdAt`/`created_at`) becomes `created_at`.
 */
function encodeIngestEntries({ messages, sessionId, userId, userDatabaseId, options, maxContentBytes, now }) {
	if (!Array.isArray(messages)) {
		throw new MemoryBadRequestError(`messages must be an array of {role, content}, got ${messages === null ? 'null' : typeof messages}`, {
			argument: 'messages',
		});
	}
	const opts = check.options(options, 'options');
	const userDbId = check.userDatabaseId(userDatabaseId);
	const session = check.sessionId(sessionId);
	const appUser = check.userId(userId);
	const metadataJson = opts.metadata === undefined || opts.metadata === null ? '{}' : check.metadata(opts.metadata, 'options.metadata');
	let ids;
	if (opts.messageIds !== undefined && opts.messageIds !== null) {
		if (!Array.isArray(opts.messageIds) || opts.messageIds.length !== messages.length) {
			throw new MemoryBadRequestError('options.messageIds must be an array with one id per message', {
				argument: 'options.messageIds',
			});
		}
		ids = opts.messageIds.map((id, i) => check.messageId(id, `options.messageIds[${i}]`));
	}
	if (opts.infer !== undefined && opts.infer !== null) check.boolean(opts.infer, 'options.infer');
	const defaultCreatedAt = new Date(now === undefined ? Date.now() : now).toISOString();

	return messages.map((m, i) => {
		const name = `messages[${i}]`;
		if (m === null || typeof m !== 'object' || Array.isArray(m)) {
			throw new MemoryBadRequestError(`${name} must be an object {role, content}`, { argument: name });
		}
		const useType = m.role === undefined && m.type !== undefined;
		const role = check.role(useType ? m.type : m.role, `${name}.${useType ? 'type' : 'role'}`);
		const content = check.text(m.content, `${name}.content`, maxContentBytes);
		const ts = m.timestamp !== undefined ? ['timestamp', m.timestamp]
			: m.createdAt !== undefined ? ['createdAt', m.createdAt]
			: m.created_at !== undefined ? ['created_at', m.created_at] : null;
		const fields = {
			user_db_id: userDbId,
			session_id: session,
			role,
			content,
		};
		if (appUser !== undefined) fields.user_id = appUser;
		if (ids) fields.message_id = ids[i];
		fields.created_at = ts && ts[1] !== null ? check.timestamp(ts[1], `${name}.${ts[0]}`) : defaultCreatedAt;
		fields.metadata = metadataJson;
		if (opts.infer === false) fields.infer = 'false';
		fields.v = ENTRY_VERSION;
		return fields;
	});
}

/**
 * A read-path request: the stream fields plus what the caller needs to wait
 * for the reply. `fields` holds the op's own fields, already strings.
 */
function encodeRequest({ op, userDatabaseId, fields = {}, replyPrefix, timeoutMs, now, requestId }) {
	if (!OPS.includes(op)) throw new MemoryBadRequestError(`op must be one of ${OPS.join(', ')}, got '${op}'`, { argument: 'op' });
	const id = requestId || crypto.randomUUID();
	const start = now === undefined ? Date.now() : now;
	const deadlineMs = start + timeoutMs;
	const replyTo = replyPrefix + id;
	const out = {
		op,
		user_db_id: check.userDatabaseId(userDatabaseId),
		reply_to: replyTo,
		request_id: id,
		deadline_ms: String(deadlineMs),
	};
	for (const [k, v] of Object.entries(fields)) {
		if (v === undefined) continue;
		if (typeof v !== 'string') throw new TypeError(`request field ${k} must be a string`);
		out[k] = v;
	}
	return { requestId: id, replyTo, deadlineMs, fields: out };
}

function malformed(op, requestId, why, cause) {
	return new MemoryError(`malformed ${op} reply from memsearch: ${why}`, { code: 'internal', requestId, cause });
}

function isPlainObject(v) {
	return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The reply's own fields, without the envelope (ok, request_id, took_ms). */
function payload(reply) {
	const out = {};
	for (const [k, v] of Object.entries(reply)) {
		if (k !== 'ok' && k !== 'request_id' && k !== 'took_ms') out[k] = v;
	}
	return out;
}

/** An array that also answers `.results` (Mem0Service.search returned `{results}`). */
function withResultsAlias(arr) {
	Object.defineProperty(arr, 'results', { value: arr, enumerable: false });
	return arr;
}

function resultsArray(op, reply, requestId) {
	if (!Array.isArray(reply.results)) throw malformed(op, requestId, '"results" is not an array');
	return reply.results;
}

/**
 * Decodes a reply (JSON text) into what the op resolves to, or throws the
 * MemoryError the reply carries.
 *
 * | op         | resolves to                                                 |
 * | search     | results array (also reachable as `.results`)                |
 * | context    | array of {role, content} prompt messages                    |
 * | get        | the memory object; none -> MemoryNotFoundError              |
 * | get_all    | results array                                               |
 * | history    | results array (history rows, oldest first as sent)          |
 * | delete     | true                                                        |
 * | delete_all | the reply's fields without ok/request_id/took_ms            |
 * | stats      | the reply's stats object (`results`/`stats` if an object, else the fields) |
 */
function decodeReply(op, raw, requestId) {
	let reply;
	const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : raw;
	if (typeof text !== 'string') throw malformed(op, requestId, `expected JSON text, got ${typeof raw}`);
	try {
		reply = JSON.parse(text);
	} catch (err) {
		throw malformed(op, requestId, `not JSON (${err.message})`, err);
	}
	if (!isPlainObject(reply)) throw malformed(op, requestId, 'not a JSON object');
	if (requestId !== undefined && reply.request_id !== undefined && reply.request_id !== null &&
	    String(reply.request_id) !== requestId) {
		throw new MemoryError(`reply for request ${reply.request_id} arrived on the reply key of request ${requestId}`, {
			code: 'internal',
			requestId,
		});
	}
	if (reply.ok === false) {
		const e = isPlainObject(reply.error) ? reply.error : {};
		throw errorFromReply(typeof e.code === 'string' ? e.code : 'internal',
			typeof e.message === 'string' ? e.message : typeof reply.error === 'string' ? reply.error : undefined, requestId);
	}
	if (reply.ok !== true) throw malformed(op, requestId, '"ok" is neither true nor false');

	switch (op) {
		case 'search':
			return withResultsAlias(resultsArray(op, reply, requestId).slice());
		case 'get_all':
		case 'history':
			return resultsArray(op, reply, requestId);
		case 'context':
			return resultsArray(op, reply, requestId).map((r, i) => {
				if (isPlainObject(r) && typeof r.role === 'string' && typeof r.content === 'string')
					return { role: r.role, content: r.content };
				// A memory record instead of a prompt message: build the message the way Mem0Service did.
				if (isPlainObject(r) && typeof r.memory === 'string')
					return { role: 'system', content: `[Relevant Context: ${r.memory}]` };
				throw malformed(op, requestId, `results[${i}] is neither {role, content} nor a memory`);
			});
		case 'get': {
			let mem;
			if (Array.isArray(reply.results)) mem = reply.results[0];
			else if (isPlainObject(reply.results)) mem = reply.results;
			else if (isPlainObject(reply.memory)) mem = reply.memory;
			if (!isPlainObject(mem)) throw new MemoryNotFoundError('memory not found', { requestId });
			return mem;
		}
		case 'delete':
			return true;
		case 'delete_all':
			return payload(reply);
		case 'stats':
			if (isPlainObject(reply.results)) return reply.results;
			if (isPlainObject(reply.stats)) return reply.stats;
			return payload(reply);
		default:
			throw malformed(op, requestId, 'unknown op');
	}
}

module.exports = {
	ENTRY_VERSION,
	OPS,
	encodeIngestEntries,
	encodeRequest,
	decodeReply,
};
