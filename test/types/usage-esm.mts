// The ESM entry's types (lib/index.d.mts): named imports and the default
// export, as an ES module consumer writes them. Checked by
// test/js/types.test.js, never run.
import nat, { enable, drain, graph, codes, type NatErrorCode } from 'napi-async-trace'
import { renderReport } from 'napi-async-trace/report'

export function esm (): string {
  enable({ stacks: true })
  const g = graph(drain())
  const code: NatErrorCode = 'NAT_EINVAL'
  return renderReport(g) + g.toFolded() + codes[code].message + String(nat.isEnabled())
}
