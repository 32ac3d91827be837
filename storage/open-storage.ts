import type { Named, RepositorySpec } from '../domain/resources';
import type { SecretResolver } from '../secrets/secret-resolver';
import { FilesystemStorage } from './filesystem-storage';
import { openS3Storage } from './s3-storage';
import type { Storage } from './storage';

export async function openStorage(repository: Named<RepositorySpec>, secrets: SecretResolver): Promise<Storage> {
  const { s3, filesystem } = repository.spec;
  if (s3) return openS3Storage(s3, secrets, repository.name);
  if (filesystem) return new FilesystemStorage(filesystem.path);
  throw new Error(`Repository "${repository.name}" has neither s3 nor filesystem`);
}
