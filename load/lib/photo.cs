#:package SkiaSharp@4.156.1
#:package SkiaSharp.NativeAssets.Linux.NoDependencies@4.156.1
// Writes a photo-like JPEG (gradients, shapes and grain, quality 90) for the attachment benchmark:
//   dotnet run load/lib/photo.cs -- <out.jpg> [width] [height]
using SkiaSharp;

var width = args.Length > 1 ? int.Parse(args[1]) : 4000;
var height = args.Length > 2 ? int.Parse(args[2]) : 3000;
using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
using (var canvas = new SKCanvas(bitmap))
{
    using var sky = new SKPaint
    {
        Shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(width, height),
            [SKColors.SkyBlue, SKColors.Orange, SKColors.DarkGreen], SKShaderTileMode.Clamp),
    };
    canvas.DrawRect(0, 0, width, height, sky);
    var random = new Random(42);
    using var shape = new SKPaint { IsAntialias = true };
    for (var i = 0; i < 400; i++)
    {
        shape.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256), 160);
        canvas.DrawCircle(random.Next(width), random.Next(height), random.Next(10, width / 10), shape);
    }
    using var grain = new SKPaint { Shader = SKShader.CreatePerlinNoiseFractalNoise(0.8f, 0.8f, 2, 7), BlendMode = SKBlendMode.Overlay };
    canvas.DrawRect(0, 0, width, height, grain);
}
using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
File.WriteAllBytes(args[0], data.ToArray());
