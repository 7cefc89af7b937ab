// Type declarations for @memworker/client.

export interface MemoryClientOptions {
	/** `redis://[user:password@]host:port[/db]`. Default `redis://127.0.0.1:6379`. */
	redisUrl?: string;
	/** Ingest stream (memworker's MEM0_STREAM). Default `mem0:ingest`. */
	stream?: string;
	/** Request stream (memsearch's MEM0_SEARCH_STREAM). Default `mem0:search`. */
	searchStream?: string;
	/** Longest a call may take, from the call to the reply, in ms. Default 5000. */
	timeoutMs?: number;
	/** Largest message content (and query) in UTF-8 bytes (MEM0_MAX_CONTENT_BYTES). Default 32768. */
	maxContentBytes?: number;
	/** Most dedicated BLPOP connections; more concurrent calls queue. Default 8. */
	blockingPoolSize?: number;
	/** Reply keys are this prefix + the request id. Default `mem0:reply:`. */
	replyPrefix?: string;
	/** Requests older than this are trimmed from the request stream (XADD MINID ~); 0 never trims. Default 60000. */
	requestStreamRetentionMs?: number;
	/** While Redis is down, calls wait at most this long from the start of the outage for it to return, then fail at once. Default 1000. */
	reconnectWaitMs?: number;
	/** CLIENT SETNAME of the connections (blocking ones get `:blpop:N`). Default `memworker-client`. */
	clientName?: string;
	/** Where connection losses and recoveries are reported; null for silence. Default `console`. */
	logger?: { warn?: (msg: string) => void; info?: (msg: string) => void } | null;
}

export type Role = 'user' | 'assistant' | 'system';

/** A chat message: `{role, content}`, or the chat app's stored form `{type, content, timestamp}`. */
export interface ChatMessage {
	role?: Role;
	/** Stands in for `role` (the chat app's chat_messages.type). */
	type?: Role;
	content: string;
	/** Becomes the entry's `created_at` (ISO 8601 string, epoch ms or Date). Default: now. */
	timestamp?: string | number | Date;
	createdAt?: string | number | Date;
	created_at?: string | number | Date;
	[extra: string]: unknown;
}

export interface AddMessagesOptions {
	/** Stored (as JSON) with the memories these messages produce. */
	metadata?: Record<string, unknown>;
	/** One idempotency key per message (`message_id`); default: the stream entry id. */
	messageIds?: Array<string | number>;
	/** `false`: store each content as a memory as is, no LLM. */
	infer?: boolean;
}

export type Scalar = string | number | boolean;

export interface SearchOptions {
	/** Narrow to one session. */
	sessionId?: string;
	/** Accepted for Mem0Service compatibility; not sent (isolation keys on userDatabaseId). */
	userId?: string | number | null;
	/** 1..100; memsearch's default is 10. */
	limit?: number;
	/** Minimum similarity, 0..1 (1 − cosine distance). */
	threshold?: number;
	/** Metadata equality filters. */
	filters?: Record<string, Scalar>;
}

export interface MemoryRecord {
	id: string;
	memory: string;
	/** Similarity, higher is better (search results). */
	score?: number;
	session_id?: string;
	metadata?: Record<string, unknown> | null;
	created_at?: string;
	updated_at?: string;
	[extra: string]: unknown;
}

export interface HistoryRecord {
	id?: number | string;
	memory_id?: string;
	action?: 'created' | 'updated' | 'deleted';
	previous_content?: string | null;
	new_content?: string | null;
	metadata?: Record<string, unknown> | null;
	created_at?: string;
	[extra: string]: unknown;
}

export interface PromptMessage {
	role: string;
	content: string;
}

/** The results array; `.results` is the same array (Mem0Service.search resolved to `{results}`). */
export type SearchResults = MemoryRecord[] & { readonly results: MemoryRecord[] };

export interface PoolStats {
	size: number;
	busy: number;
	idle: number;
	waiting: number;
	peak: number;
	max: number;
}

export type UserDatabaseId = number | string;

export declare class MemoryClient {
	constructor(options?: MemoryClientOptions);
	readonly redisUrl: string;
	readonly stream: string;
	readonly searchStream: string;
	readonly timeoutMs: number;
	readonly maxContentBytes: number;
	readonly blockingPoolSize: number;
	readonly replyPrefix: string;

	/** Optional (calls connect on first use); rejects with MemoryUnavailableError after timeoutMs. */
	connect(): Promise<this>;
	/** Same as connect() (Mem0Service compatibility). */
	initialize(): Promise<void>;
	/** Refuses new calls, waits for calls in flight, closes the connections. */
	quit(): Promise<void>;
	/** Closes the connections at once. */
	disconnect(): Promise<void>;
	poolStats(): PoolStats;

	/** Resolves with the stream entry ids once the entries are in Redis. */
	addMessages(
		messages: ChatMessage[],
		sessionId: string,
		userId: string | number | null | undefined,
		userDatabaseId: UserDatabaseId,
		options?: AddMessagesOptions,
	): Promise<string[]>;
	addMessage(
		message: ChatMessage,
		sessionId: string,
		userId: string | number | null | undefined,
		userDatabaseId: UserDatabaseId,
		options?: AddMessagesOptions,
	): Promise<string[]>;

	search(query: string, options: SearchOptions | undefined | null, userDatabaseId: UserDatabaseId): Promise<SearchResults>;
	/** `[{role: 'system', content: '[Relevant Context: <memory>]'}, …]`, across all of the user's sessions. */
	getContextForQuery(
		query: string,
		sessionId: string,
		userId: string | number | null | undefined,
		userDatabaseId: UserDatabaseId,
		options?: { limit?: number } | number,
	): Promise<PromptMessage[]>;
	getSessionMemories(
		sessionId: string,
		userId: string | number | null | undefined,
		userDatabaseId: UserDatabaseId,
		options?: { limit?: number; offset?: number } | number,
	): Promise<MemoryRecord[]>;
	getAll(userDatabaseId: UserDatabaseId, options?: { sessionId?: string; limit?: number; offset?: number }): Promise<MemoryRecord[]>;
	/** Rejects with MemoryNotFoundError when the user has no such memory. */
	get(memoryId: string, userDatabaseId: UserDatabaseId): Promise<MemoryRecord>;
	history(memoryId: string, userDatabaseId: UserDatabaseId): Promise<HistoryRecord[]>;
	/** Resolves true; rejects with MemoryNotFoundError when there was no such memory. */
	delete(memoryId: string, userDatabaseId: UserDatabaseId): Promise<true>;
	/** Resolves to the reply's fields (without ok/request_id/took_ms), e.g. `{deleted: 12}`. */
	deleteAll(userDatabaseId: UserDatabaseId, options?: { purge?: boolean }): Promise<Record<string, unknown>>;
	stats(userDatabaseId: UserDatabaseId): Promise<Record<string, unknown>>;

	/** Mem0Service compatibility: stats(userDatabaseId). */
	getUserMemoryStats(userDatabaseId: UserDatabaseId): Promise<Record<string, unknown>>;
	/** Deletes the session's memories one by one; resolves to how many. */
	deleteSessionMemories(sessionId: string, userId: string | number | null | undefined, userDatabaseId: UserDatabaseId): Promise<number>;
	getMemoryHistory(
		sessionId: string,
		userId: string | number | null | undefined,
		userDatabaseId: UserDatabaseId,
	): Promise<Array<{ memoryId: string; history: HistoryRecord[] }>>;
}

/** A process-wide client configured from options or REDIS_URL, MEM0_STREAM, MEM0_SEARCH_STREAM, MEM0_MAX_CONTENT_BYTES, MEM0_CLIENT_TIMEOUT_MS. */
export declare function getMemoryClient(options?: MemoryClientOptions): MemoryClient;

export type MemoryErrorCode = 'bad_request' | 'not_found' | 'timeout' | 'unavailable' | 'internal' | (string & {});

export declare class MemoryError extends Error {
	constructor(message: string, opts?: { code?: string; requestId?: string; cause?: unknown });
	readonly code: MemoryErrorCode;
	readonly requestId?: string;
}
export declare class MemoryBadRequestError extends MemoryError {
	readonly code: 'bad_request';
	/** The argument a local check refused, e.g. `userDatabaseId` or `messages[0].content`. */
	readonly argument?: string;
}
export declare class MemoryTimeoutError extends MemoryError {
	readonly code: 'timeout';
}
export declare class MemoryUnavailableError extends MemoryError {
	readonly code: 'unavailable';
}
export declare class MemoryNotFoundError extends MemoryError {
	readonly code: 'not_found';
}

export declare const DEFAULTS: Readonly<Required<Omit<MemoryClientOptions, 'logger'>>>;
export declare const OPS: ReadonlyArray<'search' | 'context' | 'get' | 'get_all' | 'history' | 'delete' | 'delete_all' | 'stats'>;
export declare const ENTRY_VERSION: '1';
