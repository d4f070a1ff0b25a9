namespace PolicyKit.Tasks;

/// <summary>One prompt and its one right answer.</summary>
public sealed record TaskSample(string Task, string Prompt, string Answer)
{
    /// <summary>Exact match, after trimming what a model may put around the answer (whitespace).</summary>
    public bool IsCorrect(string response) => string.Equals(response.Trim(), Answer, StringComparison.Ordinal);
}
