import { Readable } from 'node:stream';
import type { HttpHandlerOptions, HttpRequest, HttpResponse, RequestHandler } from '@smithy/types';
import type { HttpExchange, SignedGet } from './http-exchange';

/**
 * The AWS SDK's request handler for one GET sent by an HttpExchange: the SDK resolves the
 * endpoint, signs (SSE-C headers included), retries and reads S3's errors as always; only the
 * bytes on the wire are the exchange's. A 2xx response reaches the SDK with an empty body: the
 * real one went where the exchange sends it.
 */
export function exchangeRequestHandler(
  exchange: HttpExchange,
  caFile: string | undefined,
): RequestHandler<HttpRequest, HttpResponse, HttpHandlerOptions> & { updateHttpClientConfig(): void; httpHandlerConfigs(): object } {
  return {
    async handle(request) {
      const head = await exchange(signedGet(request, caFile));
      return {
        response: {
          statusCode: head.statusCode,
          headers: head.headers,
          body: Readable.from(head.errorBody ? [head.errorBody] : []),
        },
      };
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
  };
}

function signedGet(request: HttpRequest, caFile: string | undefined): SignedGet {
  if (request.method !== 'GET' || request.body !== undefined) throw new Error(`an HTTP exchange sends GETs only, not ${request.method}`);
  const scheme = request.protocol === 'http:' ? 'http' : 'https';
  const host = request.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = request.port ?? (scheme === 'https' ? 443 : 80);
  const query = queryString(request.query);
  const headers = { ...request.headers };
  // The SDK signs `host`; an HTTP/1.1 request must carry it in any case.
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'host'))
    headers.host = request.port ? `${request.hostname}:${port}` : request.hostname;
  const lines = [`GET ${request.path}${query ? `?${query}` : ''} HTTP/1.1`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  // One request per connection: the exchange's process ends with its response.
  lines.push('connection: close');
  if (lines.some((line) => /[\r\n]/.test(line))) throw new Error('a request header holds a line break');
  return { scheme, host, port, ...(scheme === 'https' && caFile ? { caFile } : {}), head: `${lines.join('\r\n')}\r\n\r\n` };
}

/** The query as Node's handler in the SDK writes it: RFC 3986 escaping, a key alone for a null value. */
function queryString(query: HttpRequest['query']): string {
  const escape = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return Object.entries(query ?? {})
    .flatMap(([key, value]) =>
      value === null || value === undefined ? [escape(key)] : [value].flat().map((item) => `${escape(key)}=${escape(item)}`),
    )
    .join('&');
}
