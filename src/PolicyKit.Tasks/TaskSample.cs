namespace PolicyKit.Tasks;

/// <summary>
/// One prompt and its one right answer. <see cref="Question"/> is the prompt without its fixed few-shot
/// preamble: two samples are the same problem when their questions are equal (train/test disjointness).
/// </summary>
public sealed record TaskSample(string Task, string Prompt, string Answer, int QuestionStart = 0)
{
    public string Question => Prompt[QuestionStart..];

    /// <summary>Exact match, after trimming what a model may put around the answer (whitespace).</summary>
    public bool IsCorrect(string response) => string.Equals(response.Trim(), Answer, StringComparison.Ordinal);
}
