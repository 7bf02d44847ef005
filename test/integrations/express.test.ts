import { describeWebIntegration } from './web/suite.js';
import { expressFramework } from './web/frameworks.js';

describeWebIntegration(expressFramework);
