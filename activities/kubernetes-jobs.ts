import { Context } from '@temporalio/activity';
import type { CoreV1Api, V1Job, V1PodSecurityContext, V1SecurityContext } from '@kubernetes/client-node';
import { permanentFailure, PermanentFailureType } from '../domain/failures';

/** What dbkeep's launchers of Jobs (replica workers, scratch servers) share: their pods' security, reading Jobs and the API's errors. */

/**
 * The `restricted` Pod Security Standard for a pod that runs as the database's uid and gid:
 * fsGroup makes the kubelet give its volumes to the database's group, writable, whoever provisioned them.
 */
export function restrictedPodSecurityContext(runAs: { uid: number; gid: number }): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: runAs.uid,
    runAsGroup: runAs.gid,
    fsGroup: runAs.gid,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** The container's part of the `restricted` standard. */
export const RESTRICTED_CONTAINER_SECURITY_CONTEXT: V1SecurityContext = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
};

/** Why the Job ended (Failed or Complete), or undefined while it may still run its worker. */
export function jobEnded(job: V1Job): string | undefined {
  const ended = job.status?.conditions?.find(
    (condition) => (condition.type === 'Failed' || condition.type === 'Complete') && condition.status === 'True',
  );
  if (ended) return `${ended.type}${ended.reason ? ` (${ended.reason}${ended.message ? `: ${ended.message}` : ''})` : ''}`;
  if ((job.status?.failed ?? 0) > 0) return `${job.status?.failed} failed pod(s)`;
  if ((job.status?.succeeded ?? 0) > 0) return 'its worker exited';
  return undefined;
}

/** Why a Job's pod does not run (ImagePullBackOff, Unschedulable...), for a timeout's message. */
export async function describeJobPods(core: CoreV1Api, namespace: string, jobName: string): Promise<string> {
  try {
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: `job-name=${jobName}`,
    });
    if (pods.items.length === 0) return ' (the Job has no pod yet)';
    const states = pods.items.map((pod) => {
      const waiting = pod.status?.containerStatuses?.find((status) => status.state?.waiting)?.state?.waiting;
      const unscheduled = pod.status?.conditions?.find((condition) => condition.type === 'PodScheduled' && condition.status === 'False');
      const reason = waiting
        ? `${waiting.reason}: ${waiting.message ?? ''}`
        : unscheduled
          ? `${unscheduled.reason}: ${unscheduled.message ?? ''}`
          : '';
      return `pod ${pod.metadata?.name} is ${pod.status?.phase}${reason ? ` (${reason.trim()})` : ''}`;
    });
    return ` (${states.join('; ')})`;
  } catch {
    return '';
  }
}

export function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * An API error with what was being done and the server's own message. RBAC refusals and
 * invalid objects are permanent (retrying cannot help); everything else may pass and is retried.
 */
export function kubernetesError(error: unknown, doing: string): Error {
  const code = statusCode(error);
  let message = error instanceof Error ? error.message : String(error);
  const body = (error as { body?: unknown } | null)?.body;
  try {
    const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string } | undefined;
    if (parsed?.message) message = parsed.message;
  } catch {
    // not a Status object: keep the client's message
  }
  if (code === 403 || code === 422 || code === 400) {
    return permanentFailure(PermanentFailureType.InvalidInput, `${doing}: HTTP ${code}: ${message}`);
  }
  return new Error(`${doing}: ${code === undefined ? '' : `HTTP ${code}: `}${message}`, { cause: error });
}

/** Progress for the pending-activity card when called inside an activity; a no-op elsewhere (tests, scripts). */
export function heartbeat(details: Record<string, unknown>): void {
  let context: Context;
  try {
    context = Context.current();
  } catch {
    return;
  }
  context.heartbeat(details);
}
