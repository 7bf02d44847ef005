import type { NodeRedisArgument, NodeRedisConnection, NodeRedisTypeMapping } from './client-shape.js';

type Send = (args: NodeRedisArgument[]) => Promise<unknown>;

/**
 * Sends raw commands whose replies are decoded by a given type mapping, through one view of the
 * client per mapping (`client.withTypeMapping(mapping)`, made once), each command also carrying the
 * mapping, instead of the mapping given with each command to the client itself. Measured with
 * node-redis 6.4 (BENCHMARKS.md): given to the client itself, the mapping made a miss cost 26–29 µs
 * of CPU against 20–21 µs through the view (`tools/miss-cost.ts --node-redis`), and in a loop of
 * raw GET + SET it had 1.6 MB of young objects promoted at every scavenge against 0.06 MB. A client
 * without `withTypeMapping` gets the mapping with each command.
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
    // Given with each command too, one object per mapping: node-redis 5 decodes a raw command by
    // the options sent with it over the client's own, not the view's.
    const options = { typeMapping };
    const bound = this.client.withTypeMapping?.(typeMapping);
    const via = bound !== undefined && typeof bound.sendCommand === 'function' ? bound : this.client;
    return (args) => via.sendCommand(args, options);
  }
}
