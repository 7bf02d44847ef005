import { describeWebIntegration } from './web/suite.js';
import { honoFramework } from './web/frameworks.js';

describeWebIntegration(honoFramework);
