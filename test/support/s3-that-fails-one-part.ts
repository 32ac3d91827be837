import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSecretResolver } from '../../secrets/secret-resolver';
import { openS3Storage } from '../../storage/s3-storage';
import type { Storage } from '../../storage/storage';

export interface S3PartFailure {
  partNumber: number;
  status: number;
  /** The S3 error code of the answer, e.g. SlowDownWrite. */
  code: string;
  message: string;
}

export interface S3ThatFailsOnePart {
  /** Repository "repo" on bucket "bucket", prefix "dbkeep", on this server. */
  storage: Storage;
  /** The S3 operation of every request received, in order (e.g. "UploadPart 2", "AbortMultipartUpload upload-1"). */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A hand-written HTTP server speaking just enough of S3's multipart API for S3Storage, that
 * accepts every part but one, which it answers with an S3 error. It exists for that one fault
 * only: a real MinIO answers a part with a 5xx S3 error (SlowDownWrite, 503) only when it has
 * lost write quorum on its drives or sheds load, and neither can be triggered for one chosen part
 * of one upload (the test runs as root, so drive permissions stop nothing, and taking a drive
 * away fails every request, not one part). Stopping MinIO mid-upload, as
 * test/reliability/storage-outage.test.ts does, gives a connection error rather than an S3
 * error answer. Everything MinIO can serve is tested against MinIO (test/stack/s3-upload-stages.test.ts).
 */
export async function startS3ThatFailsOnePart(failure: S3PartFailure): Promise<S3ThatFailsOnePart> {
  const uploadId = 'upload-1';
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    // The body of a part is read and dropped: only the answer matters.
    request.resume();
    request.on('end', () => {
      const url = new URL(request.url!, 'http://s3');
      const xml = (status: number, body: string) =>
        void response.writeHead(status, { 'content-type': 'application/xml' }).end(`<?xml version="1.0" encoding="UTF-8"?>${body}`);
      if (request.method === 'GET' && url.searchParams.has('uploads')) {
        requests.push('ListMultipartUploads');
        return xml(200, '<ListMultipartUploadsResult><Bucket>bucket</Bucket><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>');
      }
      if (request.method === 'POST' && url.searchParams.has('uploads')) {
        requests.push('CreateMultipartUpload');
        return xml(
          200,
          `<InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>${url.pathname.slice('/bucket/'.length)}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
        );
      }
      if (request.method === 'PUT' && url.searchParams.has('partNumber')) {
        const partNumber = Number(url.searchParams.get('partNumber'));
        requests.push(`UploadPart ${partNumber}`);
        if (partNumber !== failure.partNumber) return void response.writeHead(200, { etag: `"part-${partNumber}"` }).end();
        return xml(failure.status, `<Error><Code>${failure.code}</Code><Message>${failure.message}</Message></Error>`);
      }
      if (request.method === 'DELETE' && url.searchParams.has('uploadId')) {
        requests.push(`AbortMultipartUpload ${url.searchParams.get('uploadId')}`);
        return void response.writeHead(204).end();
      }
      requests.push(`${request.method} ${url.pathname}${url.search}`);
      xml(501, '<Error><Code>NotImplemented</Code><Message>not served by S3ThatFailsOnePart</Message></Error>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const storage = await openS3Storage(
    {
      bucket: 'bucket',
      prefix: 'dbkeep',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: { env: 'ACCESS_KEY' }, secretAccessKey: { env: 'SECRET_KEY' } },
    },
    createSecretResolver({ ACCESS_KEY: 'unchecked', SECRET_KEY: 'unchecked' }),
    'repo',
  );
  return {
    storage,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
