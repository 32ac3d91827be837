/**
 * Which node of a Galera cluster a backup is taken from. Pure: the preflight activity reads
 * each node's wsrep status and this decides.
 */
export const WSREP_SYNCED = 4;

/** wsrep_local_state_comment for each wsrep_local_state. */
const WSREP_STATE_NAMES: Record<number, string> = { 1: 'Joining', 2: 'Donor/Desynced', 3: 'Joined', 4: 'Synced' };

export interface GaleraNodeState {
  /** host:port, for messages and the manifest. */
  address: string;
  /** The node clients write to (the Target's own host); backups prefer the others. */
  isPrimary: boolean;
  /** Why the node could not be asked, when it could not. */
  unreachable?: string;
  /** wsrep_local_state: 4 is Synced; 2 Donor/Desynced, 1 Joining, 3 Joined. */
  localState?: number;
  /** wsrep_ready = ON */
  ready?: boolean;
  /** wsrep_cluster_status: only "Primary" is part of the quorate component. */
  clusterStatus?: string;
}

export type DonorChoice<N extends GaleraNodeState> = { donor: N; reason: string } | { problem: string };

function isHealthy(node: GaleraNodeState): boolean {
  return node.unreachable === undefined && node.localState === WSREP_SYNCED && node.ready === true && node.clusterStatus === 'Primary';
}

function describeNode(node: GaleraNodeState): string {
  const name = node.isPrimary ? `${node.address} (write primary)` : node.address;
  if (node.unreachable !== undefined) return `${name}: unreachable (${node.unreachable})`;
  if (node.localState === undefined) return `${name}: not a Galera node (no wsrep status)`;
  const state = WSREP_STATE_NAMES[node.localState];
  return `${name}: wsrep_local_state=${node.localState}${state ? ` (${state})` : ''}, wsrep_ready=${node.ready ? 'ON' : 'OFF'}, wsrep_cluster_status=${node.clusterStatus ?? '?'}`;
}

/**
 * A synced node of the primary component, preferring one that is not the write primary so the
 * backup's I/O does not land where the application writes. Nodes are tried in the given order.
 */
export function chooseGaleraDonor<N extends GaleraNodeState>(nodes: readonly N[]): DonorChoice<N> {
  const healthy = nodes.filter(isHealthy);
  const secondary = healthy.find((node) => !node.isPrimary);
  if (secondary) return { donor: secondary, reason: `synced node ${secondary.address}, not the write primary` };
  const primary = healthy.find((node) => node.isPrimary);
  if (primary) return { donor: primary, reason: `synced node ${primary.address}: the write primary, no other node is synced` };
  return { problem: `no synced Galera node to back up from: ${nodes.map(describeNode).join('; ') || 'no nodes'}` };
}
