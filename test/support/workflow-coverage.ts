// Under `npm test`: the workflow bundle is instrumented, and what the workflows ran is merged into
// jest's coverage when each test file ends (the bundle runs in Temporal's sandbox, out of jest's reach).
import { WorkflowCoverage } from '@temporalio/nyc-test-coverage';
import libCoverage from 'istanbul-lib-coverage';
import { instrumentWorkflowBundle } from '../../apps/worker/worker';

if (process.env.WORKFLOW_COVERAGE === '1') {
  const coverage = new WorkflowCoverage();
  instrumentWorkflowBundle(coverage);
  afterAll(() => {
    // Not the library's mergeIntoGlobalCoverage: it leaves FileCoverage objects of its own istanbul copy in
    // __coverage__, which jest's copy cannot read ("Invalid file coverage object"). Plain JSON merges.
    const g = globalThis as { __coverage__?: libCoverage.CoverageMapData };
    if (!g.__coverage__) return; // jest without --coverage
    const map = libCoverage.createCoverageMap(g.__coverage__);
    for (const data of coverage.coverageMapsData.splice(0)) map.merge(data);
    g.__coverage__ = JSON.parse(JSON.stringify(map.toJSON())) as libCoverage.CoverageMapData;
  });
}
