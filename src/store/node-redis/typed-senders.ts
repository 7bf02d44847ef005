import type { NodeRedisArgument, NodeRedisConnection, NodeRedisTypeMapping } from './client-shape.js';

type Send = (args: NodeRedisArgument[]) => Promise<unknown>;

/**
 * Sends raw commands whose replies are decoded by a given type mapping, through one view of the
 * client per mapping (`client.withTypeMapping(mapping)`, made once) instead of the mapping passed
 * with each command. Measured with node-redis 6.4 (BENCHMARKS.md): passed with each command, the
 * mapping made a miss cost 26–29 µs of CPU against 20–21 µs bound once (`tools/miss-cost.ts
 * --node-redis`), and in a loop of raw GET + SET it had 1.6 MB of young objects promoted at every
 * scavenge against 0.06 MB. A client without `withTypeMapping` gets the mapping with each command.
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
