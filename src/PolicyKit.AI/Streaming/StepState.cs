using System.Text;
using PolicyKit.Diffusion.Sampling;
using PolicyKit.Diffusion.Tokenization;

namespace PolicyKit.AI;

/// <summary>The provisional state of a response after one denoising step, as the streaming contract writes it.</summary>
internal static class StepState
{
    public const char Committed = 'C';
    public const char Predicted = 'P';
    public const char Masked = 'M';

    /// <summary>
    /// One character per response position (<see cref="Committed"/>, <see cref="Predicted"/>, <see cref="Masked"/>),
    /// the number committed, and the tentative text from <paramref name="from"/> on (see <see cref="PolicyKitChatProperties.Provisional"/>).
    /// </summary>
    public static (string State, int Committed, string Provisional) Describe(
        SamplerStepReport report, int responseLength, int from, long mask, int? eos, TextTokenizer tokenizer)
    {
        var step = report.Step;
        var tokens = report.Tokens[0];
        var predicted = report.Predicted?[0];
        int start = step.PromptLength;
        int activeStart = step.ActiveBlockStart, activeEnd = step.ActiveBlockStart + step.ActiveBlockLength;

        var state = new StringBuilder(responseLength);
        var tentative = new List<int>();
        bool tentativeOpen = true;
        int committed = 0;
        for (int i = 0; i < responseLength; i++)
        {
            long token = tokens[start + i];
            char kind = token != mask ? Committed
                : predicted is not null && i >= activeStart && i < activeEnd ? Predicted
                : Masked;
            if (kind == Committed) committed++;
            state.Append(kind);

            if (i < from || !tentativeOpen) continue;
            long shown = kind == Predicted ? predicted![i - activeStart] : token;
            if (kind == Masked || shown == eos) tentativeOpen = false;
            else if (shown != mask) tentative.Add((int)shown);
        }
        return (state.ToString(), committed, tentative.Count == 0 ? "" : tokenizer.Decode(tentative));
    }
}
