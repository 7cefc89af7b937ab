// ESM entry: the CommonJS implementation, re-exported (one copy of the code and of its classes).
import cjs from './index.js';

export const {
	MemoryClient,
	getMemoryClient,
	DEFAULTS,
	OPS,
	ENTRY_VERSION,
	MemoryError,
	MemoryBadRequestError,
	MemoryTimeoutError,
	MemoryUnavailableError,
	MemoryNotFoundError,
} = cjs;
