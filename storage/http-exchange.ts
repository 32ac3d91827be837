/**
 * An object's GET sent by another process (pipeline/native-fetch.ts), which writes the body where
 * the reader needs it: the storage signs the request and reads the response's status, and the
 * body's bytes never pass through the worker.
 */

/**
 * A signed GET, ready to send. Its head carries the signature and any SSE-C key: it is a
 * credential, handed over on a pipe, never logged and never on a command line.
 */
export interface SignedGet {
  scheme: 'https' | 'http';
  /** A name or an address, without IPv6 brackets. */
  host: string;
  port: number;
  /** The CA file the server's certificate must chain to (the repository's tls.caFile); the system's CAs without it. */
  caFile?: string;
  /** Request line and headers, through the empty line that ends them. */
  head: string;
}

export interface ResponseHead {
  statusCode: number;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** A status other than 2xx: the server's error document. A 2xx body went where the exchange sends it. */
  errorBody?: Buffer;
}

/**
 * Sends `request`; resolves with the response's head once it arrived. Whoever made the exchange
 * cancels it: it knows the process that sends.
 */
export type HttpExchange = (request: SignedGet) => Promise<ResponseHead>;
