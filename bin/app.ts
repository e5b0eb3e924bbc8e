import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TokenVendingStack } from '../lib/token-vending-stack';

/**
 * The CDK app: `npx cdk synth` (offline, no credentials) and `npx cdk deploy`. cdk-nag's AwsSolutions
 * checks run at every synth; an unacknowledged error fails it.
 *
 * A configuration or property error is printed as its problem list alone, not inside a stack trace
 * (`TVS_DEBUG=1` prints the trace too): each problem already names its path and what to change.
 */
const app = new App();
try {
  new TokenVendingStack(app, 'TokenVendingService');
} catch (error) {
  const debug = process.env.TVS_DEBUG !== undefined && process.env.TVS_DEBUG !== '';
  const text =
    error instanceof Error ? (debug ? (error.stack ?? error.message) : error.message) : String(error);
  process.stderr.write(`${text}\n`);
  process.exit(1);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
