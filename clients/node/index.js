'use strict';

/**
 * @memworker/client: push chat messages to memworker's ingest stream and
 * query memories through memsearch, over Redis. Drop-in for Mem0Service.
 */
const { MemoryClient, getMemoryClient, DEFAULTS } = require('./lib/client');
const errors = require('./lib/errors');
const { OPS, ENTRY_VERSION } = require('./lib/protocol');

module.exports = {
	MemoryClient,
	getMemoryClient,
	DEFAULTS,
	OPS,
	ENTRY_VERSION,
	MemoryError: errors.MemoryError,
	MemoryBadRequestError: errors.MemoryBadRequestError,
	MemoryTimeoutError: errors.MemoryTimeoutError,
	MemoryUnavailableError: errors.MemoryUnavailableError,
	MemoryNotFoundError: errors.MemoryNotFoundError,
};
