import { z } from 'zod';

// Kubernetes' own rules (k8s.io/apimachinery/pkg/util/validation), so a reference the API
// server would reject is reported when the resource is read, not when a session needs it.
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Service names are DNS-1035 labels: they start with a letter. */
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** A named port (IANA_SVC_NAME): at most 15 characters, at least one letter, no "--". */
const PORT_NAME = /^(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Secrets, AppBindings, PersistentVolumeClaims... */
export const kubernetesObjectNameSchema = z
  .string()
  .max(253, 'must be at most 253 characters')
  .regex(
    DNS1123_SUBDOMAIN,
    'must be a DNS-1123 subdomain: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit',
  );

export const kubernetesNamespaceSchema = z
  .string()
  .max(63, 'must be at most 63 characters')
  .regex(DNS1123_LABEL, 'must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit');

export const kubernetesServiceNameSchema = z
  .string()
  .max(63, 'must be at most 63 characters')
  .regex(
    DNS1035_LABEL,
    'must be a DNS-1035 label: lowercase letters, digits and "-", starting with a letter and ending with a letter or digit',
  );

export const kubernetesPortNameSchema = z
  .string()
  .max(15, 'must be at most 15 characters')
  .regex(PORT_NAME, 'must be a port name: lowercase letters, digits and "-", at least one letter, no "--"');
