'use strict';

/*
 * Argument checks. They mirror what memworker and memsearch enforce, so a bad
 * call fails at once with a MemoryBadRequestError naming the argument instead
 * of travelling to a daemon and coming back (or being dead-lettered).
 * Each check returns the normalised value (the string sent on the wire where
 * that differs from the input).
 */
const { MemoryBadRequestError } = require('./errors');

const ROLES = new Set(['user', 'assistant', 'system']);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DIGITS_RE = /^[0-9]+$/;
/** mem0_memories.session_id is VARCHAR(255). */
const MAX_SESSION_ID = 255;
const MAX_LIMIT = 100;

function bad(argument, problem) {
	return new MemoryBadRequestError(`${argument} ${problem}`, { argument });
}

function describe(v) {
	if (v === null) return 'null';
	if (Array.isArray(v)) return 'an array';
	if (typeof v === 'string') return v.length > 40 ? `'${v.slice(0, 40)}…'` : `'${v}'`;
	if (typeof v === 'object') return 'an object';
	return `${typeof v} ${String(v)}`;
}

/** A safe positive integer, as a number or a string of digits. Returns its decimal string. */
function userDatabaseId(v, name = 'userDatabaseId') {
	let n;
	if (typeof v === 'number') n = v;
	else if (typeof v === 'string' && DIGITS_RE.test(v)) n = Number(v);
	else if (typeof v === 'bigint') n = v > 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : NaN;
	else throw bad(name, `must be a positive integer (number or digit string), got ${describe(v)}`);
	if (!Number.isSafeInteger(n) || n <= 0)
		throw bad(name, `must be a safe positive integer, got ${describe(v)}`);
	return String(n);
}

function sessionId(v, name = 'sessionId') {
	if (typeof v !== 'string' || v.length === 0)
		throw bad(name, `must be a non-empty string, got ${describe(v)}`);
	if (v.length > MAX_SESSION_ID) throw bad(name, `must be at most ${MAX_SESSION_ID} characters`);
	return v;
}

/** The app's own user id: optional; a string or a number, kept in metadata. */
function userId(v, name = 'userId') {
	if (v === undefined || v === null) return undefined;
	if (typeof v === 'number' && Number.isFinite(v)) return String(v);
	if (typeof v === 'string') return v.length ? v : undefined;
	throw bad(name, `must be a string or a number when given, got ${describe(v)}`);
}

function text(v, name, maxBytes) {
	if (typeof v !== 'string' || v.trim().length === 0)
		throw bad(name, `must be a non-empty string, got ${describe(v)}`);
	const bytes = Buffer.byteLength(v, 'utf8');
	if (bytes > maxBytes) throw bad(name, `is ${bytes} bytes of UTF-8, more than the limit of ${maxBytes}`);
	return v;
}

function role(v, name = 'role') {
	if (typeof v !== 'string' || !ROLES.has(v))
		throw bad(name, `must be one of user, assistant, system, got ${describe(v)}`);
	return v;
}

function intInRange(v, name, min, max) {
	let n = v;
	if (typeof v === 'string' && DIGITS_RE.test(v)) n = Number(v);
	if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)
		throw bad(name, `must be an integer from ${min} to ${max}, got ${describe(v)}`);
	return String(n);
}

function limit(v, name = 'limit') {
	return intInRange(v, name, 1, MAX_LIMIT);
}

function offset(v, name = 'offset') {
	return intInRange(v, name, 0, Number.MAX_SAFE_INTEGER);
}

function threshold(v, name = 'threshold') {
	if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1)
		throw bad(name, `must be a number from 0 to 1, got ${describe(v)}`);
	return String(v);
}

function isPlainObject(v) {
	if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
	const proto = Object.getPrototypeOf(v);
	return proto === Object.prototype || proto === null;
}

/** Metadata equality filters: a plain object of string, finite number or boolean values. */
function filters(v, name = 'filters') {
	if (!isPlainObject(v)) throw bad(name, `must be a plain object of scalar values, got ${describe(v)}`);
	for (const [k, val] of Object.entries(v)) {
		if (k.length === 0) throw bad(name, 'must not have an empty key');
		const ok = typeof val === 'string' || typeof val === 'boolean' ||
			(typeof val === 'number' && Number.isFinite(val));
		if (!ok) throw bad(`${name}.${k}`, `must be a string, finite number or boolean, got ${describe(val)}`);
	}
	return Object.keys(v).length ? JSON.stringify(v) : undefined;
}

/** Metadata stored with the memories: a plain object that survives JSON. */
function metadata(v, name = 'metadata') {
	if (!isPlainObject(v)) throw bad(name, `must be a plain object, got ${describe(v)}`);
	let json;
	try {
		json = JSON.stringify(v);
	} catch (err) {
		throw new MemoryBadRequestError(`${name} cannot be encoded as JSON: ${err.message}`, { argument: name, cause: err });
	}
	return json;
}

function memoryId(v, name = 'memoryId') {
	if (typeof v !== 'string' || !UUID_RE.test(v)) throw bad(name, `must be a UUID, got ${describe(v)}`);
	return v.toLowerCase();
}

function boolean(v, name) {
	if (typeof v !== 'boolean') throw bad(name, `must be a boolean, got ${describe(v)}`);
	return v;
}

/** An options argument: undefined/null (none) or a plain object. */
function options(v, name = 'options') {
	if (v === undefined || v === null) return {};
	if (typeof v !== 'object' || Array.isArray(v))
		throw bad(name, `must be an object, got ${describe(v)}`);
	return v;
}

/** A message timestamp: Date, epoch milliseconds, or a parseable date string. Returns ISO 8601. */
function timestamp(v, name) {
	let d;
	if (v instanceof Date) d = v;
	else if (typeof v === 'number' && Number.isFinite(v)) d = new Date(v);
	else if (typeof v === 'string' && v.length) d = new Date(v);
	else throw bad(name, `must be a Date, epoch milliseconds or an ISO 8601 string, got ${describe(v)}`);
	if (Number.isNaN(d.getTime())) throw bad(name, `is not a valid date, got ${describe(v)}`);
	return d.toISOString();
}

/** An idempotency key: a non-empty string or a safe integer. */
function messageId(v, name) {
	if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
	if (typeof v === 'string' && v.length > 0 && v.length <= 255) return v;
	throw bad(name, `must be a non-empty string (at most 255 characters) or an integer, got ${describe(v)}`);
}

module.exports = {
	ROLES,
	MAX_LIMIT,
	userDatabaseId,
	sessionId,
	userId,
	text,
	role,
	limit,
	offset,
	threshold,
	filters,
	metadata,
	memoryId,
	boolean,
	options,
	timestamp,
	messageId,
	isPlainObject,
};
