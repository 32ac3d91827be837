import { defineSearchAttributeKey, type SearchAttributePair } from '@temporalio/common';
import { SEARCH_ATTRIBUTES, type SearchAttributeField, type SearchAttributeValues } from '../domain/search-attributes';

type Definitions = typeof SEARCH_ATTRIBUTES;

/**
 * The SDK's typed keys of dbkeep's search attributes, one for each entry of SEARCH_ATTRIBUTES
 * (domain/search-attributes.ts, which holds their names, types and values): for typed reads.
 */
export const searchAttributes = Object.fromEntries(
  Object.entries(SEARCH_ATTRIBUTES).map(([field, { name, type }]) => [field, defineSearchAttributeKey(name, type)]),
) as { readonly [F in SearchAttributeField]: ReturnType<typeof defineSearchAttributeKey<Definitions[F]['type']>> };

/** Values (domain/search-attributes.ts) as a start's typedSearchAttributes and upsertSearchAttributes take them. */
export function searchAttributePairs(values: SearchAttributeValues): SearchAttributePair[] {
  return (Object.keys(values) as SearchAttributeField[]).flatMap((field) => {
    const value = values[field];
    // SearchAttributeValues gives each value its key's type; the compiler cannot follow it through the loop.
    return value === undefined ? [] : [{ key: searchAttributes[field], value } as SearchAttributePair];
  });
}
