import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TokenVendingStack } from '../lib/token-vending-stack';

/**
 * The CDK app: `npx cdk synth` (offline, no credentials) and `npx cdk deploy`. cdk-nag's AwsSolutions
 * checks run at every synth; an unacknowledged error fails it.
 */
const app = new App();
new TokenVendingStack(app, 'TokenVendingService');
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
