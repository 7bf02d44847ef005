import { describeWebIntegration } from './web/suite.js';
import { fastifyFramework } from './web/frameworks.js';

describeWebIntegration(fastifyFramework);
