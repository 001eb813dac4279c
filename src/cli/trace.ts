// hvscope trace — placeholder until its issue lands; registers nothing yet.
import type { CAC } from 'cac';

export function register(_cli: CAC): void {}
