import type { NodeRedisArgument, NodeRedisConnection, NodeRedisTypeMapping } from './client-shape.js';

type Send = (args: NodeRedisArgument[]) => Promise<unknown>;

/**
 * Sends raw commands whose replies are decoded by a given type mapping, through one node-redis
 * client per mapping (`client.withTypeMapping(mapping)`, made once) instead of a mapping passed
 * with each command. Measured with node-redis 6.4 (`tools/miss-cost.ts --node-redis`): with the
 * mapping passed per command, the commands' queue entries outlived the young generation and
 * were promoted (about 3 MB per scavenge at 64 concurrent misses, garbage collection 18% of the
 * process) and a miss cost twice the CPU; bound once, nothing was promoted. A client without
 * `withTypeMapping` gets the mapping per command.
 */
export class TypedSenders {
  private readonly senders = new Map<NodeRedisTypeMapping, Send>();

  constructor(private readonly client: NodeRedisConnection) {}

  send(args: NodeRedisArgument[], typeMapping: NodeRedisTypeMapping): Promise<unknown> {
    let send = this.senders.get(typeMapping);
    if (send === undefined) {
      send = this.senderFor(typeMapping);
      this.senders.set(typeMapping, send);
    }
    return send(args);
  }

  private senderFor(typeMapping: NodeRedisTypeMapping): Send {
    const bound = this.client.withTypeMapping?.(typeMapping);
    if (bound !== undefined && typeof bound.sendCommand === 'function') return (args) => bound.sendCommand(args);
    return (args) => this.client.sendCommand(args, { typeMapping });
  }
}
