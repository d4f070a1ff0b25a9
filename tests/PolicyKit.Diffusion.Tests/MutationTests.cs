using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Tokenization;

namespace PolicyKit.Diffusion.Tests;

/// <summary>
/// Seeded mutations (byte flips, truncations) of valid files: the parsers must either accept the file or throw
/// their typed exception; anything else (IndexOutOfRange, ArgumentException, native crash) is a bug.
/// A short run here; the fuzzing issue owns the long one.
/// </summary>
public class MutationTests
{
    private static byte[] Mutate(byte[] original, Random rng, int headerEnd)
    {
        var bytes = (byte[])original.Clone();
        switch (rng.Next(3))
        {
            case 0: // flip bytes, mostly inside the header where the structure lives
                for (var i = 0; i < 1 + rng.Next(4); i++)
                    bytes[rng.Next(Math.Min(bytes.Length, headerEnd))] ^= (byte)(1 << rng.Next(8));
                return bytes;
            case 1: // truncate
                return bytes[..rng.Next(bytes.Length)];
            default: // overwrite one header byte with a JSON-significant character
                bytes[rng.Next(8, Math.Min(bytes.Length, headerEnd))] = (byte)"{}[],:\"0123456789-e"[rng.Next(19)];
                return bytes;
        }
    }

    [Fact]
    public void MutatedSafetensorsEitherLoadOrThrowCheckpointException()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.Dream, sizes: TestModels.Tiny with { Layers = 1, HiddenSize = 16, IntermediateSize = 16 });
        var original = File.ReadAllBytes(dir.File("model.safetensors"));
        var headerEnd = 8 + (int)BitConverter.ToUInt64(original, 0);
        var rng = new Random(1234);
        var path = dir.File("mutant.safetensors");
        var accepted = 0;
        for (var i = 0; i < 400; i++)
        {
            File.WriteAllBytes(path, Mutate(original, rng, headerEnd));
            try
            {
                var reader = SafetensorsReader.Open(path);
                foreach (var name in reader.Tensors.Keys) reader.Read(name).Dispose();
                accepted++;
            }
            catch (CheckpointException e)
            {
                Assert.Equal(path, e.File);
            }
        }
        Assert.True(400 - accepted >= 100, $"only {400 - accepted} of 400 mutants refused"); // truncations alone are a third
    }

    [Fact]
    public void MutatedTokenizerJsonEitherLoadsOrThrowsTokenizerException()
    {
        using var dir = new TempDir();
        ByteLevelTokenizerWriter.Write(dir.File("tokenizer.json"), ByteLevelTokenizerWriter.DefaultMerges, ["<|endoftext|>", "<|mask|>"]);
        var original = File.ReadAllBytes(dir.File("tokenizer.json"));
        var rng = new Random(99);
        for (var i = 0; i < 150; i++)
        {
            File.WriteAllBytes(dir.File("tokenizer.json"), Mutate(original, rng, original.Length));
            try { TextTokenizer.Load(dir.Path).Encode("the cat"); }
            catch (TokenizerException) { }
        }
    }

    [Fact]
    public void MutatedConfigJsonEitherParsesOrThrowsModelConfigException()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        var original = File.ReadAllBytes(dir.File("config.json"));
        var rng = new Random(7);
        for (var i = 0; i < 300; i++)
        {
            File.WriteAllBytes(dir.File("config.json"), Mutate(original, rng, original.Length));
            try { ModelConfig.Load(dir.Path); }
            catch (ModelConfigException) { }
        }
    }
}
