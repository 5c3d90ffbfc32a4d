/** Small builders for hand-written OpenAPI operation parts (bodies are validated by our code). */

/** The one error shape; each response gives its own message as the example. */
export const errorSchema = {
  type: "object",
  properties: { error: { type: "string", description: "What went wrong, in words" } },
  required: ["error"],
} as const;

export function jsonBody(schema: object) {
  return { required: true, content: { "application/json": { schema } } };
}

export function jsonResponse(description: string, content: { schema: object; example?: unknown }) {
  return {
    description,
    content: {
      "application/json": {
        schema: content.schema,
        ...(content.example === undefined ? {} : { example: content.example }),
      },
    },
  };
}

export const apiError = (example: string) => ({ schema: errorSchema, example: { error: example } });

export const tooManyRequestsResponse = {
  ...jsonResponse("Too many requests", apiError("too many requests")),
  headers: {
    "Retry-After": {
      description: "Seconds until a request can succeed",
      schema: { type: "integer" as const },
    },
  },
};
