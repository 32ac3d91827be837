import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';

/** A Temporal client on a real server that counts the RPCs it sends, by method name. */
export interface CountingTemporalClient {
  client: Client;
  /** Calls per method since the last reset, e.g. `{ ListSchedules: 1 }`; a retried call counts once per try. */
  calls: Map<string, number>;
  reset(): void;
  close(): Promise<void>;
}

export async function connectCountingClient(address: string, namespace: string): Promise<CountingTemporalClient> {
  const calls = new Map<string, number>();
  const counter: Interceptor = (options, nextCall) => {
    const method = options.method_definition.path.split('/').at(-1)!;
    calls.set(method, (calls.get(method) ?? 0) + 1);
    return new InterceptingCall(nextCall(options));
  };
  // Passing interceptors replaces the SDK's default list: keep its retry interceptor.
  const connection = await Connection.connect({ address, interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions()), counter] });
  return { client: new Client({ connection, namespace }), calls, reset: () => calls.clear(), close: () => connection.close() };
}
