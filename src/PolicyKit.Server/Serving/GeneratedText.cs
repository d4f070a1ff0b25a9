using PolicyKit.Diffusion.Model;

namespace PolicyKit.Server;

/// <summary>An answer's text and token count, cut at end-of-sequence, at the token budget and at the first stop sequence.</summary>
/// <param name="Text">What the client receives.</param>
/// <param name="CompletionTokens">Tokens of the answer before end-of-sequence (within the budget).</param>
/// <param name="Finished">The model ended the answer (end-of-sequence) or a stop sequence did: OpenAI's <c>stop</c>;
/// otherwise the budget ran out: <c>length</c>.</param>
public sealed record GeneratedText(string Text, int CompletionTokens, bool Finished)
{
    public string FinishReason => Finished ? "stop" : "length";

    /// <summary>Decodes <paramref name="tokenIds"/> (the generation's full gen length) for a budget of <paramref name="maxTokens"/>.</summary>
    public static GeneratedText From(DiffusionModel model, IReadOnlyList<long> tokenIds, int maxTokens, IReadOnlyList<string> stop)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenIds);
        int budget = Math.Min(maxTokens, tokenIds.Count);
        int? eos = model.Tokenizer.EosTokenId;
        int end = 0;
        while (end < budget && tokenIds[end] != eos) end++;
        var kept = tokenIds.Take(end).Select(id => (int)id).Where(id => id != model.MaskTokenId);
        var (text, stopped) = StopSequences.Cut(model.Tokenizer.Decode(kept), stop);
        return new GeneratedText(text, end, Finished: stopped || end < budget);
    }
}
