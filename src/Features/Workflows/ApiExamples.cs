namespace TaskRunner.Features.Workflows;

/// <summary>The example the OpenAPI document shows for a definition body: the first example of docs/workflows.md.</summary>
internal static class ApiExamples
{
    public const string WorkflowDefinition = """
        Example definition (`Content-Type: application/yaml`), runnable with its defaults:

        ```yaml
        name: nightly-report
        description: Extract each region's sales, build one report from them, then publish it.
        parameters:
          date:
            type: string
            pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
            default: "2026-01-31"
          regions:
            type: array
            items: { type: string, pattern: "^[a-z]{2}$" }
            default: [eu, us, ap]
            max_items: 50
          priority:
            type: integer
            minimum: 0
            maximum: 100
            default: 60
        tasks:
          - key: extract
            for_each: "{{ params.regions }}"
            title: "Extract {{ item }} sales for {{ params.date }}"
            kind: etl.extract
            priority: "{{ params.priority }}"
            metadata: { region: "{{ item }}", run: "{{ run.id }}" }
            max_retries: 2
            timeout_seconds: 600
            concurrency_key: warehouse
          - key: report
            title: "Build the {{ params.date }} report"
            kind: etl.report
            depends_on: [extract]
          - key: publish
            title: "Publish the {{ params.date }} report"
            kind: etl.publish
            depends_on:
              - { key: report, require: success }
        ```

        Then `POST /api/v1/workflows/{id}/runs` with `{}` (defaults) or `{"params": {"date": "2026-02-01", "regions": ["eu"]}}`.
        """;
}
