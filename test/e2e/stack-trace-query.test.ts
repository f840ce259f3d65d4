// What the Temporal UI's "Stack Trace" tab shows for a lead waiting for its postback: the worker's answer to the
// `__stack_trace` and `__enhanced_stack_trace` queries, in the project's own source (workflows/lead.ts), not in
// the workflow bundle. The worker formats a promise's stack only when its activation ends with it pending or a
// query asks (decision 0026): this holds what ops read from them.
import { leadWorkflowId } from '../../shared/temporal';
import { useStack } from '../support/e2e';
import { partnersConfig, pendingLead } from '../support/postbacks';

const { stack } = useStack({ config: ({ partner, source }) => partnersConfig(partner.url, source.url) });

interface EnhancedStackTrace {
  sdk: { name: string };
  stacks: { locations: { file_path?: string; function_name?: string; line?: number }[] }[];
}

test('a waiting lead shows where it waits, in workflows/lead.ts', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-stack-trace');
  const handle = stack.client.workflow.getHandle(leadWorkflowId(leadId));

  const trace = await handle.query<string>('__stack_trace');
  // The wait, then the run that called it, each at a line of the project's source.
  expect(trace).toMatch(
    /at awaitPostback \(.*workflows\/lead\.ts:\d+:\d+\)\n(.*\n)*\s+at .*workflows\/lead\.ts:\d+/,
  );
  expect(trace).not.toMatch(/workflow-bundle/);

  const enhanced = await handle.query<EnhancedStackTrace>('__enhanced_stack_trace');
  expect(enhanced.sdk.name).toBe('typescript');
  const waits = enhanced.stacks
    .flatMap((s) => s.locations)
    .filter((l) => l.function_name === 'awaitPostback');
  expect(waits.length).toBeGreaterThan(0);
  for (const wait of waits) {
    expect(wait.file_path).toMatch(/workflows\/lead\.ts$/);
    expect(wait.line).toBeGreaterThan(0);
  }
});
