'use strict';

/**
 * Errors thrown by the client. Every one is a MemoryError with a `.code`
 * taken from the memsearch reply contract (bad_request, not_found, timeout,
 * unavailable, internal) so callers can switch on `err.code` or use
 * `instanceof`.
 */
class MemoryError extends Error {
	/**
	 * @param {string} message
	 * @param {{code?: string, requestId?: string, cause?: unknown}} [opts]
	 */
	constructor(message, opts = {}) {
		super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
		this.name = this.constructor.name;
		this.code = opts.code || 'internal';
		if (opts.requestId !== undefined) this.requestId = opts.requestId;
	}
}

/** The request could not be valid: thrown locally by the argument checks, or by memsearch. */
class MemoryBadRequestError extends MemoryError {
	constructor(message, opts = {}) {
		super(message, { ...opts, code: 'bad_request' });
		if (opts.argument !== undefined) this.argument = opts.argument;
	}
}

/** No reply within the timeout (or memsearch answered that the deadline passed). */
class MemoryTimeoutError extends MemoryError {
	constructor(message, opts = {}) {
		super(message, { ...opts, code: 'timeout' });
	}
}

/** Redis cannot be reached, or memsearch reported that its store is unavailable. */
class MemoryUnavailableError extends MemoryError {
	constructor(message, opts = {}) {
		super(message, { ...opts, code: 'unavailable' });
	}
}

/** The memory does not exist for this user. */
class MemoryNotFoundError extends MemoryError {
	constructor(message, opts = {}) {
		super(message, { ...opts, code: 'not_found' });
	}
}

/** Maps a reply's error code to the error class thrown for it. */
function errorFromReply(code, message, requestId) {
	const opts = { requestId };
	const text = typeof message === 'string' && message ? message : `memsearch error (${code})`;
	switch (code) {
		case 'bad_request':
			return new MemoryBadRequestError(text, opts);
		case 'not_found':
			return new MemoryNotFoundError(text, opts);
		case 'timeout':
			return new MemoryTimeoutError(text, opts);
		case 'unavailable':
			return new MemoryUnavailableError(text, opts);
		default:
			return new MemoryError(text, { ...opts, code: typeof code === 'string' && code ? code : 'internal' });
	}
}

module.exports = {
	MemoryError,
	MemoryBadRequestError,
	MemoryTimeoutError,
	MemoryUnavailableError,
	MemoryNotFoundError,
	errorFromReply,
};
