using System.Text;
using Microsoft.Extensions.AI;
using PolicyKit.Diffusion.Tokenization;

namespace PolicyKit.AI;

/// <summary>
/// The response text of one generation, built from its committed prefix as it grows. A token committed at position i
/// becomes text once every position before it is committed; its bytes go through one UTF-8 decoder, so a character
/// split across byte-level tokens appears only when complete. Text that could still turn out to start a stop sequence
/// is held back. The response ends at the first end-of-sequence token (finish reason Stop), at the first stop
/// sequence (Stop; the sequence is cut), or at the response length (Length). The streamed pieces
/// (<see cref="Advance"/> calls, then <see cref="Complete"/>) concatenate to <see cref="Text"/>.
/// </summary>
internal sealed class CommittedText
{
    private static readonly Dictionary<char, byte> CharToByte = BuildCharToByte();

    private readonly TextTokenizer _tokenizer;
    private readonly long? _eos;
    private readonly long _mask;
    private readonly int _length;
    private readonly IReadOnlyList<string> _stops;
    private readonly int _longestStop;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly StringBuilder _text = new();
    // _textLengthAfter[k]: characters of text once k + 1 tokens are decoded (for the token count of a stop-sequence cut).
    private readonly List<int> _textLengthAfter = [];
    private readonly byte[] _bytes = new byte[64];
    private readonly char[] _chars = new char[128];
    private int _emitted;
    private int _stopSearchFrom;

    public CommittedText(TextTokenizer tokenizer, int? eosTokenId, int maskTokenId, int responseLength, IReadOnlyList<string> stopSequences)
    {
        _tokenizer = tokenizer;
        _eos = eosTokenId;
        _mask = maskTokenId;
        _length = responseLength;
        _stops = stopSequences;
        _longestStop = stopSequences.Count == 0 ? 0 : stopSequences.Max(s => s.Length);
    }

    /// <summary>Response positions consumed (decoded, or ended at) so far: the committed prefix the text covers.</summary>
    public int Consumed { get; private set; }

    /// <summary>Set once the response has ended (end-of-sequence, stop sequence or length).</summary>
    public ChatFinishReason? FinishReason { get; private set; }

    /// <summary>Generated tokens up to the end: before end-of-sequence, up to and including the one a stop sequence starts in, or the response length.</summary>
    public int OutputTokens { get; private set; }

    /// <summary>The whole response text so far (the emitted part and what is held back).</summary>
    public string Text => _text.ToString();

    /// <summary>
    /// Takes in the committed prefix of <paramref name="response"/> (the response's tokens after a step; masked positions
    /// hold the mask id) and returns the text that became stable since the last call (often empty).
    /// </summary>
    public string Advance(ReadOnlySpan<long> response) => Take(response, final: false);

    /// <summary>
    /// Takes in the final tokens (nothing is masked any more; a mask id the sampler committed is skipped, as the
    /// engine's decoder skips it), ends the response and returns the rest of the text.
    /// </summary>
    public string Complete(ReadOnlySpan<long> response)
    {
        var rest = Take(response, final: true);
        if (FinishReason is null) End(ChatFinishReason.Length, Consumed);
        return rest + TakeStable();
    }

    private string Take(ReadOnlySpan<long> response, bool final)
    {
        int limit = Math.Min(_length, response.Length);
        while (FinishReason is null && Consumed < limit)
        {
            long id = response[Consumed];
            if (id == _mask && !final) break;
            if (id == _eos)
            {
                End(ChatFinishReason.Stop, Consumed);
                break;
            }
            if (id != _mask) Append((int)id);
            Consumed++;
            _textLengthAfter.Add(_text.Length);
            if (FindStop() is int cut)
                EndAtStop(cut);
            else if (Consumed == _length)
                End(ChatFinishReason.Length, Consumed);
        }
        return TakeStable();
    }

    private void Append(int id)
    {
        var token = _tokenizer.IdToToken(id);
        if (token is null) return; // an id past the tokenizer's vocabulary (padding rows of the model's): no text, as in TextTokenizer.Decode
        if (_tokenizer.IsSpecial(id))
        {
            Flush();
            _text.Append(token);
            return;
        }
        int count = 0;
        foreach (var c in token)
        {
            if (count == _bytes.Length) { DecodeBytes(count); count = 0; }
            // Byte-level vocabularies spell every byte with one character; anything else is not a byte and has no text.
            if (CharToByte.TryGetValue(c, out var b)) _bytes[count++] = b;
        }
        DecodeBytes(count);
    }

    private void DecodeBytes(int count)
    {
        int chars = _utf8.GetChars(_bytes, 0, count, _chars, 0, flush: false);
        _text.Append(_chars, 0, chars);
    }

    /// <summary>Ends an incomplete UTF-8 sequence (as U+FFFD, as a whole-text decode would).</summary>
    private void Flush()
    {
        int chars = _utf8.GetChars(_bytes, 0, 0, _chars, 0, flush: true);
        _text.Append(_chars, 0, chars);
    }

    private void End(ChatFinishReason reason, int outputTokens)
    {
        Flush();
        // The flushed characters may complete a stop sequence.
        if (FindStop() is int cut)
        {
            EndAtStop(cut);
            return;
        }
        FinishReason = reason;
        OutputTokens = outputTokens;
    }

    private void EndAtStop(int cut)
    {
        _text.Length = cut;
        // The tokens the kept text needs: the first k whose text reaches the cut.
        int tokens = 0;
        while (tokens < _textLengthAfter.Count && (tokens == 0 ? 0 : _textLengthAfter[tokens - 1]) < cut) tokens++;
        FinishReason = ChatFinishReason.Stop;
        OutputTokens = tokens;
    }

    /// <summary>Where the first stop sequence starts in the text, searching only where new text could complete one.</summary>
    private int? FindStop()
    {
        if (_stops.Count == 0) return null;
        int from = Math.Max(0, _stopSearchFrom - _longestStop + 1);
        int? first = null;
        foreach (var stop in _stops)
        {
            int at = _text.ToString(from, _text.Length - from).IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first is null || from + at < first)) first = from + at;
        }
        _stopSearchFrom = _text.Length;
        return first;
    }

    /// <summary>The text not yet emitted, less (while the response goes on) a tail that a stop sequence could begin with.</summary>
    private string TakeStable()
    {
        int end = _text.Length;
        if (FinishReason is null)
        {
            // Never emit half a surrogate pair, nor the start of a possible stop sequence.
            if (end > _emitted && char.IsHighSurrogate(_text[end - 1])) end--;
            end -= HeldForStops(end);
        }
        if (end <= _emitted) return "";
        var piece = _text.ToString(_emitted, end - _emitted);
        _emitted = end;
        return piece;
    }

    /// <summary>The longest suffix of the text up to <paramref name="end"/> that is a proper prefix of a stop sequence.</summary>
    private int HeldForStops(int end)
    {
        int held = 0;
        foreach (var stop in _stops)
            for (int n = Math.Min(stop.Length - 1, end - _emitted); n > held; n--)
                if (EndsWith(end, stop.AsSpan(0, n))) { held = n; break; }
        return held;
    }

    private bool EndsWith(int end, ReadOnlySpan<char> suffix)
    {
        for (int i = 0; i < suffix.Length; i++)
            if (_text[end - suffix.Length + i] != suffix[i]) return false;
        return true;
    }

    private static Dictionary<char, byte> BuildCharToByte()
    {
        var map = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++) map[ByteLevelAlphabet.ForByte((byte)b)] = (byte)b;
        return map;
    }
}
